"""Command line: simulate a neural assembly from a YAML config and write a recording.

    ccnn-simulate --config configs/simulation/baseline.yaml --out rec.npz
    python -m ccnn.data.activity.simulate --config ... --out ... [--n_frames 20000] [--no-cache]

Every argument of :func:`ccnn.data.simulate_assembly` can be set in the YAML file or on
the command line. Results are cached under ``$CCNN_CACHE`` (default ``~/.cache/ccnn``),
keyed by a hash of the resolved arguments.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser

from ccnn.data.activity.cache import cached_recording
from ccnn.data.activity.ground_truth import DEFAULT_FUNCTION
from ccnn.data.activity.recording import Recording
from ccnn.data.activity.simulation import simulate_assembly_trials


def simulation_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="ccnn-simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file of simulation arguments")
    parser.add_argument("--out", type=Path, required=True, help="the .npz recording to write")
    parser.add_argument("--no-cache", action="store_true", help="simulate even if a cached result exists")
    parser.add_function_arguments(
        simulate_assembly_trials, skip={"n_trials", "progress", "device", "connectivity", "types", "stimulus"}
    )
    parser.add_argument("--stimulus", type=str | None, default=None, help="None or 'procedural'")
    parser.add_argument("--device", type=str, default="cpu")
    return parser


def config_from_args(args: Any) -> dict[str, Any]:
    """The simulation arguments in parsed command-line ``args`` (what the cache key hashes)."""
    config = {
        k: v for k, v in vars(args).items() if k not in ("config", "out", "no_cache", "device", "__path__")
    }
    config["type_params"] = [[float(v) for v in row] for row in config["type_params"]]
    for name in ("phi_function", "psi_function"):  # the paper's functions keep older cache keys
        if config.get(name) == DEFAULT_FUNCTION:
            del config[name]
    return config


def simulation_builder(config: dict[str, Any], device: str = "cpu") -> Callable[[], Recording]:
    """What the cache calls on a miss: simulate the one trial that ``config`` describes."""
    return lambda: simulate_assembly_trials(1, device=device, progress=True, **config)[0]


def simulate_from_config(config: dict[str, Any], *, device: str = "cpu", use_cache: bool = True) -> Recording:
    """Simulate (or read from the cache) the recording that ``config`` describes."""
    build = simulation_builder(config, device)
    return cached_recording(config, build)[0] if use_cache else build()


def main(argv: list[str] | None = None) -> None:
    args = simulation_parser().parse_args(argv)
    config = config_from_args(args)
    start = time.perf_counter()
    recording = simulate_from_config(config, device=args.device, use_cache=not args.no_cache)
    path = recording.save(args.out)
    print(
        f"wrote {path}: {recording.n_frames} frames x {recording.n_neurons} neurons "
        f"({time.perf_counter() - start:.1f} s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
