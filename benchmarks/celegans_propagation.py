"""C. elegans: predict the signal-propagation atlas (Randi et al. 2023) from the Cook 2019 connectome.

    python benchmarks/celegans_propagation.py --json out.json --figure propagation.png
    python benchmarks/celegans_propagation.py --strains wt unc31 --seeds 5

Labels: a tested pair (``i`` responds, ``j`` stimulated; self-responses excluded) is
functionally connected when ``q < 0.05``
(:meth:`~ccnn.data.connectomes.signal_propagation.SignalPropagationAtlas.connected`). The
atlas is restricted to the neurons the connectome names (``AWCON`` / ``AWCOFF`` drop out).
Scores, each compared by AUROC over all tested pairs:

* ``anatomy``: chemical synapses + gap junctions from ``j`` onto ``i`` (no fitting);
* ``resolvent``: ``(I − α A / ρ(A))⁻¹`` of the binary connectome at α = 0.1 (no fitting);
* ``boosting`` / ``logistic``:
  :class:`~ccnn.models.structure_function.propagation.SignalPropagationPredictor` on the
  connectome's pair and node features (cell class one-hot, transmitter sign), out of fold:
  5 folds of whole *stimulated* neurons (``stimulated``: predict the responses to a neuron
  never stimulated in training) or of whole *responding* neurons (``responding``), each
  repeated with ``--seeds`` shuffles of the neurons into folds (mean ± std over seeds);
* ``boosting_stimulated_pair_only`` / ``_node_only``: the same with only the pair features
  (synapses, walks, resolvents) or only the per-neuron ones (degrees, cell class, sign), to
  show where the gain over the resolvent comes from.

The JSON maps strain → score → ``{"auroc_mean", "auroc_std"}`` (std 0 for the fixed scores)
plus ``settings``; the figure shows the ROC curves of the wild type (first seed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESOLVENT_ALPHA = 0.1
CLASSIFIERS = ("boosting", "logistic")


def connectome_inputs(name: str) -> dict[str, Any]:
    """Chemical and gap-junction matrices, node features and names of a C. elegans connectome."""
    from ccnn.data import load_connectome

    connectome = load_connectome(name, synapses="chemical")
    types = connectome.node_attrs["cell_type"].long()
    one_hot = torch.nn.functional.one_hot(types, len(connectome.meta["cell_types"])).double()
    node_features = torch.cat([one_hot, connectome.node_attrs["sign"].double()[:, None]], 1)
    return {
        "chemical": connectome.weights.double(),
        "gap": connectome.node_attrs["gap_junctions"].double(),
        "node_features": node_features,
        "node_feature_names": [f"is_{t}" for t in connectome.meta["cell_types"]] + ["sign"],
        "names": list(connectome.labels),
    }


def auroc(scores: torch.Tensor, connected: torch.Tensor, tested: torch.Tensor) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(connected[tested].numpy(), scores[tested].numpy()))


def run(
    connectome: str = "celegans_herm",
    strains: tuple[str, ...] = ("wt", "unc31"),
    seeds: int = 3,
    folds: int = 5,
    groups: tuple[str, ...] = ("stimulated", "responding"),
    classifiers: tuple[str, ...] = CLASSIFIERS,
    atlas_loader: Any = None,
    inputs: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """The table (JSON-ready) and, per strain, the scores of the first seed (for the figure)."""
    from ccnn.data.connectomes.signal_propagation import load_signal_propagation_atlas
    from ccnn.models.structure_function.propagation import (
        cross_validate_propagation,
        propagation_features,
        resolvent,
    )

    atlas_loader = atlas_loader or load_signal_propagation_atlas
    inputs = inputs or connectome_inputs(connectome)
    result: dict[str, Any] = {}
    curves: dict[str, dict[str, torch.Tensor]] = {}
    for strain in strains:
        atlas, index = atlas_loader(strain).restrict(inputs["names"])
        rows = torch.tensor(index)
        chem = inputs["chemical"][rows][:, rows]
        gap = inputs["gap"][rows][:, rows]
        tested, connected = atlas.tested(), atlas.connected()
        scores = {
            "anatomy": chem + gap,
            "resolvent": resolvent(((chem + gap) > 0).double(), RESOLVENT_ALPHA),
        }
        row: dict[str, Any] = {
            name: {"auroc_mean": auroc(s, connected, tested), "auroc_std": 0.0} for name, s in scores.items()
        }
        features, names = propagation_features(
            chem, gap, inputs["node_features"][rows], inputs.get("node_feature_names")
        )
        for classifier in classifiers:
            for group in groups:
                values = []
                for seed in range(seeds):
                    start = time.perf_counter()
                    out_of_fold = cross_validate_propagation(
                        features,
                        tested,
                        connected,
                        folds=folds,
                        group=group,
                        classifier=classifier,
                        seed=seed,
                    )
                    values.append(auroc(out_of_fold, connected, tested))
                    if seed == 0:
                        scores[f"{classifier}_{group}"] = out_of_fold
                    print(
                        f"{strain} {classifier} held-out {group} seed {seed}: AUROC {values[-1]:.3f} "
                        f"({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
                row[f"{classifier}_{group}"] = {
                    "auroc_mean": float(np.mean(values)),
                    "auroc_std": float(np.std(values)),
                }
        pair_columns = [
            k for k, name in enumerate(names) if not name.startswith(("responding_", "stimulated_"))
        ]
        node_columns = [k for k in range(len(names)) if k not in pair_columns]
        if "boosting" in classifiers and "stimulated" in groups:
            for label, columns in (("pair_only", pair_columns), ("node_only", node_columns)):
                values = [
                    auroc(
                        cross_validate_propagation(
                            features[..., columns], tested, connected, folds=folds, seed=seed
                        ),
                        connected,
                        tested,
                    )
                    for seed in range(seeds)
                ]
                row[f"boosting_stimulated_{label}"] = {
                    "auroc_mean": float(np.mean(values)),
                    "auroc_std": float(np.std(values)),
                }
        row["pairs"] = {
            "neurons": atlas.num_neurons,
            "tested": int(tested.sum()),
            "connected": int(connected.sum()),
        }
        result[strain] = row
        curves[strain] = {"tested": tested, "connected": connected, **scores}
    result["settings"] = {
        "connectome": connectome,
        "seeds": seeds,
        "folds": folds,
        "resolvent_alpha": RESOLVENT_ALPHA,
        "features": names,
    }
    return result, curves


def table(result: dict[str, Any]) -> str:
    strains = [s for s in result if s != "settings"]
    models = [m for m in result[strains[0]] if m != "pairs"]
    lines = [
        "| score | " + " | ".join(f"AUROC ({s})" for s in strains) + " |",
        "|---|" + "---|" * len(strains),
    ]
    for model in models:
        cells = []
        for strain in strains:
            entry = result[strain][model]
            std = f" ± {entry['auroc_std']:.3f}" if entry["auroc_std"] > 0 else ""
            cells.append(f"{entry['auroc_mean']:.3f}{std}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    pairs = ", ".join(
        f"{s}: {result[s]['pairs']['connected']} of {result[s]['pairs']['tested']} pairs connected"
        for s in strains
    )
    return "\n".join(lines) + f"\n({pairs})"


def plot(curves: dict[str, torch.Tensor], strain: str, path: Path) -> Path:
    """ROC curves of every score of one strain, written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    from ccnn._io import write_new

    tested, connected = curves["tested"], curves["connected"]
    figure, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    for name, scores in curves.items():
        if name in ("tested", "connected"):
            continue
        y, s = connected[tested].numpy(), scores[tested].numpy()
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name.replace('_', ', held-out ')} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate (unconnected pairs scored above threshold)")
    ax.set_ylabel("true positive rate (connected pairs, q < 0.05)")
    ax.set_title(f"Cook 2019 connectome → signal propagation ({strain})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    written = write_new(path, lambda handle: figure.savefig(handle, format="png", dpi=150))
    plt.close(figure)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectome", default="celegans_herm")
    parser.add_argument("--strains", nargs="+", default=["wt", "unc31"], choices=["wt", "unc31"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result, curves = run(args.connectome, tuple(args.strains), args.seeds, args.folds)
    result["settings"]["wall_seconds"] = time.perf_counter() - start
    print(table(result))
    print(f"wall time {result['settings']['wall_seconds']:.0f} s")
    if args.json is not None:
        from ccnn._io import write_new_json

        print(f"written to {write_new_json(args.json, result)}")
    if args.figure is not None:
        print(f"figure written to {plot(curves[args.strains[0]], args.strains[0], args.figure)}")


if __name__ == "__main__":
    main()
