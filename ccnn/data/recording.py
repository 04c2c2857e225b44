"""The recording format: neural activity over time, with ground truth when it is known.

A recording is one ``.npz`` file (or, in the cache, a folder of ``.npy`` files that can be
memory-mapped) with these keys:

============== ============ ==========================================================
key            shape        meaning
============== ============ ==========================================================
activity       [T, N] f32   required: x_i(t) at each stored frame
dt             scalar       required: time between frames
derivative     [T, N] f32   noise-free dx/dt at each frame (else: finite differences)
connectivity   [N, N]       true W, ``W[i, j]`` from neuron j onto neuron i
types          [N] int      true neuron type
neuron_params  [N, 3]       (g, s, c) of each neuron
transfer       JSON         ψ: ``{"name": "tanh" | "transmitters" | "neuron_neuron", "gamma": [...]}``
positions      [N, 2]       neuron positions; NaN for neurons without one
stimulus       [T, N]       the external stimulus Ω_i(t)
meta           JSON         free-form provenance (simulator, seed, ...)
============== ============ ==========================================================
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ccnn._io import atomic_write

__all__ = ["LARGE_KEYS", "RECORDING_KEYS", "Recording"]

RECORDING_KEYS = (
    "activity", "dt", "derivative", "connectivity", "types", "neuron_params", "transfer", "positions",
    "stimulus", "meta",
)  # fmt: skip
_ARRAY_KEYS = ("activity", "derivative", "connectivity", "types", "neuron_params", "positions", "stimulus")
_JSON_KEYS = ("transfer", "meta")
#: The [T, N] arrays: the ones worth memory-mapping.
LARGE_KEYS = ("activity", "derivative", "stimulus")


@dataclass
class Recording:
    """Activity of N neurons over T frames, plus whatever ground truth is known.

    Arrays are NumPy (possibly memory-mapped); construction validates every field and
    raises one ``ValueError`` naming the key, the expected and the received value.

    Example:
        >>> rec = Recording(activity=np.zeros((100, 3), np.float32), dt=0.01)
        >>> rec.n_frames, rec.n_neurons, rec.has_ground_truth
        (100, 3, False)
    """

    activity: np.ndarray
    dt: float
    derivative: np.ndarray | None = None
    connectivity: np.ndarray | None = None
    types: np.ndarray | None = None
    neuron_params: np.ndarray | None = None
    transfer: dict[str, Any] | None = None
    positions: np.ndarray | None = None
    stimulus: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    allow_short: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.activity = _float_array(self.activity, "activity", ndim=2)
        n_frames, n_neurons = self.activity.shape
        self._check_orientation(n_frames, n_neurons)
        dt = np.asarray(self.dt)
        if (
            dt.shape != ()
            or not np.issubdtype(dt.dtype, np.number)
            or not (math.isfinite(float(dt)) and dt > 0)
        ):
            raise ValueError(f"dt: expected a positive finite scalar, got {self.dt!r}")
        self.dt = float(dt)
        expected = {
            "derivative": (n_frames, n_neurons),
            "connectivity": (n_neurons, n_neurons),
            "neuron_params": (n_neurons, 3),
            "positions": (n_neurons, 2),
            "stimulus": (n_frames, n_neurons),
        }
        for key, shape in expected.items():
            value = getattr(self, key)
            if value is not None:
                array = _float_array(value, key, ndim=2, allow_nan=key == "positions")
                if array.shape != shape:
                    raise ValueError(f"{key}: expected shape {shape}, got {array.shape}")
                setattr(self, key, array)
        if self.types is not None:
            types = np.asarray(self.types)
            if types.shape != (n_neurons,) or not np.issubdtype(types.dtype, np.integer):
                raise ValueError(
                    f"types: expected an int array of shape ({n_neurons},), got {_describe(types)}"
                )
            self.types = types
        if self.transfer is not None:
            if not isinstance(self.transfer, dict) or "name" not in self.transfer:
                raise ValueError(f"transfer: expected a dict with a 'name', got {self.transfer!r}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta: expected a dict, got {type(self.meta).__name__}")

    def _check_orientation(self, n_frames: int, n_neurons: int) -> None:
        """Catch an activity saved as [N, T]: other keys disagree, or far fewer frames than neurons."""
        n_true = None
        if self.connectivity is not None:
            n_true = np.shape(self.connectivity)[0]
        elif self.types is not None:
            n_true = np.shape(self.types)[0]
        hint = (
            f"activity: expected shape [T, N] (frames × neurons), got {self.activity.shape}, which looks "
            "transposed ([N, T]); save activity.T"
        )
        if n_true is not None and n_true != n_neurons and n_true == n_frames:
            raise ValueError(hint)
        if n_true is None and n_frames < n_neurons and not self.allow_short:
            raise ValueError(
                f"{hint}, or pass allow_short=True if the recording really has fewer frames "
                f"({n_frames}) than neurons ({n_neurons})"
            )

    # ------------------------------------------------------------------ properties
    @property
    def n_frames(self) -> int:
        return self.activity.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.activity.shape[1]

    @property
    def has_ground_truth(self) -> bool:
        """Whether the true connectivity is known (a simulated recording)."""
        return self.connectivity is not None

    @property
    def has_positions(self) -> bool:
        return self.positions is not None

    # ------------------------------------------------------------------ files
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fields as a dict of arrays (JSON fields as 0-d strings), absent ones left out."""
        arrays: dict[str, np.ndarray] = {"activity": self.activity, "dt": np.asarray(self.dt)}
        for key in _ARRAY_KEYS[1:]:
            value = getattr(self, key)
            if value is not None:
                arrays[key] = value
        if self.transfer is not None:
            arrays["transfer"] = np.asarray(json.dumps(self.transfer))
        arrays["meta"] = np.asarray(json.dumps(self.meta))
        return arrays

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz`` atomically: a temporary file in the same folder, then a rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            np.savez(handle, **self.to_arrays())
        return path

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, Any], source: str = "recording", allow_short: bool = False
    ) -> Recording:
        """Build from a dict of arrays (as stored); ``source`` names the file in errors."""
        missing = [key for key in ("activity", "dt") if key not in arrays]
        if missing:
            raise ValueError(f"{source}: missing required key(s) {missing}; found keys {sorted(arrays)}")
        fields: dict[str, Any] = {}
        for key in RECORDING_KEYS:
            if key not in arrays:
                continue
            value = arrays[key]
            if key in _JSON_KEYS:
                try:
                    value = json.loads(str(np.asarray(value)[()]))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{source}: key {key!r} is not valid JSON ({err})") from err
            fields[key] = value
        try:
            return cls(**fields, allow_short=allow_short)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | os.PathLike, *, allow_short: bool = False) -> Recording:
        """Read and validate a ``.npz`` recording (or a cache folder of ``.npy`` files)."""
        path = Path(path)
        if path.is_dir():
            return cls.load_dir(path, allow_short=allow_short)
        if not path.exists():
            raise ValueError(f"path: no recording at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable .npz recording ({err})") from err
        return cls.from_arrays(arrays, str(path), allow_short)

    def save_dir(self, folder: str | os.PathLike) -> Path:
        """Write one ``.npy`` per key into ``folder`` (memory-mappable; used by the cache)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in self.to_arrays().items():
            np.save(folder / f"{key}.npy", value)
        return folder

    @classmethod
    def load_dir(
        cls, folder: str | os.PathLike, *, mmap: bool = False, allow_short: bool = False
    ) -> Recording:
        """Read a folder written by :meth:`save_dir`; ``mmap`` maps the large arrays, not reads them."""
        folder = Path(folder)
        arrays = {}
        for file in folder.glob("*.npy"):
            mode = "r" if mmap and file.stem in LARGE_KEYS else None
            arrays[file.stem] = np.load(file, mmap_mode=mode, allow_pickle=False)
        return cls.from_arrays(arrays, str(folder), allow_short)


def _describe(array: np.ndarray) -> str:
    return f"array of shape {array.shape} and dtype {array.dtype}"


def _float_array(value: Any, key: str, *, ndim: int, allow_nan: bool = False) -> np.ndarray:
    """A float32 array (memory maps kept as they are when already float32), checked for finiteness."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{key}: expected a float array, got {_describe(array)}")
    if array.ndim != ndim:
        raise ValueError(f"{key}: expected a {ndim}-D array, got {_describe(array)}")
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    # A float64 sum is finite exactly when every entry is (barring overflow, which the full
    # check below then clears): one cheap pass instead of a boolean mask of the whole array.
    if not allow_nan and np.isfinite(array.sum(dtype=np.float64)):
        return array
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if count:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "inf" if allow_nan else "NaN/inf"
        raise ValueError(
            f"{key}: expected finite values, got {count} {what} entries (first at index {first})"
        )
    return array
