"""Tensor and model specifications shared by export, the backends and the manifests.

A ``TensorSpec`` names one input or output: its shape, where a dimension is either an int (fixed) or
a string (a named dynamic axis such as ``"batch"`` or ``"time"``), and its dtype. ``DynamicDim``
gives each named axis its (min, opt, max) range, which becomes ONNX dynamic axes and TensorRT
optimisation profiles. ``ExportSpec`` is what a model provides to be exported: the module, its
inputs and outputs, ranges, and identity (name, version, config).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

Dim = int | str
DTYPES = ("float32", "float16", "int64", "int32", "bool", "uint8")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name}: dtype {self.dtype!r} is not one of {DTYPES}")
        object.__setattr__(self, "shape", tuple(d if isinstance(d, str) else int(d) for d in self.shape))

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def concrete(self, dims: dict[str, int]) -> tuple[int, ...]:
        """The shape with every named axis replaced by ``dims[name]``."""
        return tuple(dims[d] if isinstance(d, str) else d for d in self.shape)

    def matches(self, shape: Sequence[int], dims: dict[str, int] | None = None) -> bool:
        """Whether a concrete ``shape`` fits this spec (named axes bind consistently in ``dims``)."""
        if len(shape) != len(self.shape):
            return False
        dims = {} if dims is None else dims
        for want, got in zip(self.shape, shape):
            if isinstance(want, str):
                if dims.setdefault(want, int(got)) != int(got):
                    return False
            elif int(want) != int(got):
                return False
        return True

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), d.get("dtype", "float32"))


@dataclass(frozen=True)
class DynamicDim:
    """Range of a named dynamic axis: TensorRT profile (min, opt, max); ``opt`` is the example size."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not (1 <= self.min <= self.opt <= self.max):
            raise ValueError(f"dynamic dim needs 1 <= min <= opt <= max, got {self}")


def config_hash(config: Any) -> str:
    """Stable short hash of a JSON-able model configuration (sorted keys)."""
    blob = json.dumps(config if config is not None else {}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class ExportSpec:
    """Everything needed to export one model and to check what was exported.

    ``module`` is called as ``module(*inputs)`` with tensors in ``inputs`` order and returns a tensor,
    a tuple/list of tensors (in ``outputs`` order) or a dict keyed by output name. ``example_inputs``
    (optional) returns concrete example arrays by input name; by default random arrays at the ``opt``
    size of each dynamic axis are used. ``tolerance`` is (rtol, atol) for torch-vs-exported parity,
    with a justification in ``tolerance_note``.
    """

    name: str
    version: str
    module: Any  # torch.nn.Module
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    dims: dict[str, DynamicDim] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    example_inputs: Callable[[dict[str, int], int], dict[str, np.ndarray]] | None = None
    tolerance: tuple[float, float] = (1e-4, 1e-4)
    tolerance_note: str = ""
    source: dict = field(default_factory=dict)  # provenance (e.g. the .tflite sha256)
    opset: int = 17

    def __post_init__(self) -> None:
        names = [t.name for t in self.inputs] + [t.name for t in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: input/output names must be unique, got {names}")
        for t in self.inputs + self.outputs:
            for d in t.dynamic_axes.values():
                if d not in self.dims:
                    raise ValueError(f"{self.name}: tensor {t.name} uses dynamic axis {d!r} without a range in dims")

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def opt_dims(self) -> dict[str, int]:
        return {k: v.opt for k, v in self.dims.items()}

    def make_inputs(self, dims: dict[str, int] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Example inputs at ``dims`` (default: each axis at its ``opt`` size)."""
        d = self.opt_dims()
        d.update(dims or {})
        if self.example_inputs is not None:
            return self.example_inputs(d, seed)
        rng = np.random.default_rng(seed)
        out = {}
        for t in self.inputs:
            shape = t.concrete(d)
            if t.dtype.startswith("float"):
                out[t.name] = rng.standard_normal(shape).astype(t.dtype)
            elif t.dtype == "bool":
                out[t.name] = rng.random(shape) > 0.5
            else:
                out[t.name] = rng.integers(0, 2, size=shape).astype(t.dtype)
        return out

    def identity(self) -> dict:
        return {"model": self.name, "version": self.version, "config_hash": self.config_hash}


def specs_to_dicts(specs: Sequence[TensorSpec]) -> list[dict]:
    return [s.to_dict() for s in specs]


def dims_to_dict(dims: dict[str, DynamicDim]) -> dict[str, list[int]]:
    return {k: [v.min, v.opt, v.max] for k, v in sorted(dims.items())}


def dims_from_dict(d: dict[str, Sequence[int]]) -> dict[str, DynamicDim]:
    return {k: DynamicDim(int(v[0]), int(v[1]), int(v[2])) for k, v in d.items()}


__all__ = ["TensorSpec", "DynamicDim", "ExportSpec", "config_hash", "specs_to_dicts", "dims_to_dict", "dims_from_dict"]
