"""Reading MANO model files (official or procedural) without chumpy.

The official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` are Python-2 pickles whose arrays are chumpy
objects. We read them with a *restricted* unpickler: only numpy arrays, scipy sparse matrices and
chumpy objects (replaced by a plain stand-in from which the array is taken) may be created; any
other class in the file raises an error instead of running code. Still, a pickle is code-shaped
data: load model files only from places you trust.

Without a configured folder the procedural model (``hand_models.mano.procedural``) is written
to a cache folder on first use and read through this same code path.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from hand_models.joints import MANO_PARENTS

SIDES = ("right", "left")
ENV_MANO_DIR = "HAND_PERCEPTION_MANO_DIR"

_REQUIRED = {
    "v_template": (778, 3),
    "f": (1538, 3),
    "J_regressor": (16, 778),
    "kintree_table": (2, 16),
    "weights": (778, 16),
    "shapedirs": (778, 3, 10),
    "posedirs": (778, 3, 135),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}


class ManoFileError(ValueError):
    """A MANO model file or folder is missing or is not a MANO model."""


@dataclass(frozen=True)
class ManoModelData:
    """Arrays of one side's MANO model (numpy, float64 unless noted).

    v_template (778, 3) m; faces (1538, 3) int64; J_regressor (16, 778) dense; parents (16,) int64
    with -1 at the root; weights (778, 16); shapedirs (778, 3, 10); posedirs (778, 3, 135);
    hands_components (45, 45) rows = PCA components; hands_mean (45,); name says which model.
    """

    side: str
    v_template: np.ndarray
    faces: np.ndarray
    J_regressor: np.ndarray
    parents: np.ndarray
    weights: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    name: str
    path: str


class _ChumpyStandIn:
    """Takes the place of a chumpy object while unpickling; keeps its state dict."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build numpy arrays, scipy sparse matrices and chumpy stand-ins."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"),
        ("builtins", "object"), ("__builtin__", "object"), ("builtins", "set"), ("builtins", "frozenset"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            return _ChumpyStandIn
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            return super().find_class(module, name)
        raise ManoFileError(
            f"refusing to unpickle {module}.{name}: a MANO model file holds only numpy/scipy/chumpy data"
        )


def _to_array(value: Any, key: str) -> np.ndarray:
    """numpy array from a numpy array, scipy sparse matrix or chumpy stand-in."""
    if isinstance(value, _ChumpyStandIn):
        state = value.state
        if isinstance(state, dict):
            for field in ("x", "r", "a"):
                if field in state:
                    return _to_array(state[field], key)
            arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
            if len(arrays) == 1:
                return arrays[0]
        raise ManoFileError(f"cannot read array {key!r} from its chumpy object (state keys: "
                            f"{sorted(state) if isinstance(state, dict) else type(state).__name__})")
    if scipy.sparse.issparse(value):
        return np.asarray(value.toarray())
    return np.asarray(value)


def read_mano_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The raw dict of a MANO pkl, read with the restricted unpickler (latin1 for Python-2 files)."""
    path = Path(path)
    if not path.is_file():
        raise ManoFileError(f"MANO model file not found: {path}")
    try:
        with open(path, "rb") as fh:
            data = _RestrictedUnpickler(fh, encoding="latin1").load()
    except ManoFileError:
        raise
    except Exception as exc:  # corrupt or not a pickle
        raise ManoFileError(f"{path} is not a readable MANO pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ManoFileError(f"{path} does not hold a MANO model (a dict), found {type(data).__name__}")
    return data


def load_mano_file(path: str | os.PathLike, side: str) -> ManoModelData:
    """Read and validate one MANO model file for ``side`` ('right' or 'left')."""
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    data = read_mano_pickle(path)
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ManoFileError(f"{path} is not a MANO model: missing {missing} (expected the keys of MANO_RIGHT.pkl)")
    arrays = {k: _to_array(data[k], k) for k in _REQUIRED}
    for key, shape in _REQUIRED.items():
        if arrays[key].shape != shape:
            raise ManoFileError(f"{path}: {key} has shape {arrays[key].shape}, a MANO model has {shape}")
    for key, value in arrays.items():
        if key != "f" and not np.all(np.isfinite(value)):
            raise ManoFileError(f"{path}: {key} contains NaN or inf")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if not np.array_equal(parents, MANO_PARENTS):
        raise ManoFileError(f"{path}: kinematic tree {parents.tolist()} is not MANO's {MANO_PARENTS.tolist()}")
    return ManoModelData(
        side=side,
        v_template=arrays["v_template"].astype(np.float64),
        faces=arrays["f"].astype(np.int64),
        J_regressor=arrays["J_regressor"].astype(np.float64),
        parents=parents,
        weights=arrays["weights"].astype(np.float64),
        shapedirs=arrays["shapedirs"].astype(np.float64),
        posedirs=arrays["posedirs"].astype(np.float64),
        hands_components=arrays["hands_components"].astype(np.float64),
        hands_mean=arrays["hands_mean"].astype(np.float64),
        name=str(data.get("model_name", "mano")),
        path=str(path),
    )


def resolve_model_dir(model_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl.

    Order: the argument, then $HAND_PERCEPTION_MANO_DIR, then the procedural model (written to
    its cache folder if needed). A folder that was asked for but does not exist is an error
    (we never fall back silently from real MANO files to the procedural model).
    """
    if model_dir is None:
        model_dir = os.environ.get(ENV_MANO_DIR) or None
    if model_dir is None:
        from hand_models.mano.procedural import write_procedural_models

        return write_procedural_models()
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise ManoFileError(
            f"MANO folder {folder} does not exist: point it to the folder holding MANO_RIGHT.pkl and "
            f"MANO_LEFT.pkl (from https://mano.is.tue.mpg.de), or leave it unset to use the procedural model"
        )
    return folder


def model_file(model_dir: str | os.PathLike | None, side: str) -> Path:
    """Path of ``side``'s model file in the resolved folder, with a clear error if missing."""
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    folder = resolve_model_dir(model_dir)
    path = folder / f"MANO_{side.upper()}.pkl"
    if not path.is_file():
        raise ManoFileError(f"{path} not found: the MANO folder must hold MANO_{side.upper()}.pkl")
    return path


def load_mano_model(side: str, model_dir: str | os.PathLike | None = None) -> ManoModelData:
    """Load ``side``'s model from ``model_dir`` (or the default, see :func:`resolve_model_dir`)."""
    return load_mano_file(model_file(model_dir, side), side)
