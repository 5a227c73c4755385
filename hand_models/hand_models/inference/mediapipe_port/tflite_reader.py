"""A small reader for ``.tflite`` files (the TFLite flatbuffer schema), written against
``tensorflow/lite/schema/schema.fbs``.

Only what porting float models needs is read: operator codes, the subgraph's tensors (shape, type,
buffer, name), its operators with their builtin options, and the constant buffers. It uses the
``flatbuffers`` runtime (a dependency of mediapipe) and numpy, nothing else; no generated code.

Field numbers (the "slot" of each field in a table) follow schema.fbs; a union takes two slots
(its type, then its value).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:  # flatbuffers ships with mediapipe (and with tensorflow); the import is cheap
    from flatbuffers import number_types as _N
    from flatbuffers.table import Table as _Table
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("reading .tflite files needs the 'flatbuffers' package: pip install flatbuffers") from exc


# BuiltinOperator enum values (schema.fbs) for the operators a float vision model uses.
BUILTIN_OPS = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 8: "FLOOR", 9: "FULLY_CONNECTED", 14: "LOGISTIC",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR",
    25: "SOFTMAX", 28: "TANH", 32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB",
    42: "DIV", 43: "SQUEEZE", 45: "STRIDED_SLICE", 49: "SPLIT", 54: "PRELU", 55: "MAXIMUM",
    57: "MINIMUM", 60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 74: "SUM",
    97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 117: "HARD_SWISH",
}

# TensorType enum -> numpy dtype.
TENSOR_TYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
    7: np.int16, 9: np.int8, 10: np.float64,
}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# Option tables: field name -> (slot, flatbuffers scalar type, default), per operator.
_I32, _U8, _BOOL = _N.Int32Flags, _N.Uint8Flags, _N.BoolFlags
OPTION_FIELDS = {
    "CONV_2D": {"padding": (0, _U8, 0), "stride_w": (1, _I32, 0), "stride_h": (2, _I32, 0),
                "activation": (3, _U8, 0), "dilation_w": (4, _I32, 1), "dilation_h": (5, _I32, 1)},
    "DEPTHWISE_CONV_2D": {"padding": (0, _U8, 0), "stride_w": (1, _I32, 0), "stride_h": (2, _I32, 0),
                          "depth_multiplier": (3, _I32, 0), "activation": (4, _U8, 0),
                          "dilation_w": (5, _I32, 1), "dilation_h": (6, _I32, 1)},
    "MAX_POOL_2D": {"padding": (0, _U8, 0), "stride_w": (1, _I32, 0), "stride_h": (2, _I32, 0),
                    "filter_w": (3, _I32, 0), "filter_h": (4, _I32, 0), "activation": (5, _U8, 0)},
    "AVERAGE_POOL_2D": {"padding": (0, _U8, 0), "stride_w": (1, _I32, 0), "stride_h": (2, _I32, 0),
                        "filter_w": (3, _I32, 0), "filter_h": (4, _I32, 0), "activation": (5, _U8, 0)},
    "ADD": {"activation": (0, _U8, 0)},
    "SUB": {"activation": (0, _U8, 0)},
    "MUL": {"activation": (0, _U8, 0)},
    "DIV": {"activation": (0, _U8, 0)},
    "CONCATENATION": {"axis": (0, _I32, 0), "activation": (1, _U8, 0)},
    "FULLY_CONNECTED": {"activation": (0, _U8, 0), "weights_format": (1, _U8, 0),
                        "keep_num_dims": (2, _BOOL, False)},
    "RESIZE_BILINEAR": {"align_corners": (2, _BOOL, False), "half_pixel_centers": (3, _BOOL, False)},
    "RESIZE_NEAREST_NEIGHBOR": {"align_corners": (0, _BOOL, False), "half_pixel_centers": (1, _BOOL, False)},
    "MEAN": {"keep_dims": (0, _BOOL, False)},
    "SUM": {"keep_dims": (0, _BOOL, False)},
    "SOFTMAX": {"beta": (0, _N.Float32Flags, 0.0)},
    "LEAKY_RELU": {"alpha": (0, _N.Float32Flags, 0.0)},
}


class _Tab:
    """Field access on one flatbuffer table by slot number."""

    __slots__ = ("t",)

    def __init__(self, buf: bytes, pos: int) -> None:
        self.t = _Table(buf, pos)

    def _o(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def scalar(self, slot: int, flags, default):
        o = self._o(slot)
        return self.t.Get(flags, o + self.t.Pos) if o else default

    def string(self, slot: int) -> str:
        o = self._o(slot)
        return self.t.String(o + self.t.Pos).decode("utf-8", "replace") if o else ""

    def table(self, slot: int) -> "_Tab | None":
        o = self._o(slot)
        return _Tab(self.t.Bytes, self.t.Indirect(o + self.t.Pos)) if o else None

    def vector(self, slot: int, flags) -> np.ndarray:
        o = self._o(slot)
        if not o:
            return np.zeros(0, dtype=_N.to_numpy_type(flags))
        return self.t.GetVectorAsNumpy(flags, o)

    def tables(self, slot: int) -> list["_Tab"]:
        o = self._o(slot)
        if not o:
            return []
        start, n = self.t.Vector(o), self.t.VectorLen(o)
        return [_Tab(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(n)]


@dataclass
class TFLiteTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    buffer: int
    data: np.ndarray | None = None  # constant contents (None for activations)


@dataclass
class TFLiteOp:
    index: int
    op: str  # BUILTIN_OPS name, or "BUILTIN_<code>" for one this reader does not name
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    """Subgraph 0 of a .tflite model: tensors, operators in execution order, inputs, outputs."""

    path: str
    sha256: str
    version: int
    tensors: list[TFLiteTensor]
    ops: list[TFLiteOp]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def constant(self, index: int) -> np.ndarray | None:
        return self.tensors[index].data


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Parse subgraph 0 of a .tflite flatbuffer into plain Python objects with numpy constants."""
    raw = Path(path).read_bytes()
    buf = bytearray(raw)
    model = _Tab(buf, _N.UOffsetTFlags.py_type(int.from_bytes(raw[:4], "little")))
    version = model.scalar(0, _N.Uint32Flags, 0)
    codes = []
    for oc in model.tables(1):
        dep = oc.scalar(0, _N.Int8Flags, 0)
        code = oc.scalar(3, _I32, 0)
        codes.append(max(int(dep), int(code)))  # builtin_code supersedes the deprecated byte
    buffers = model.tables(4)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise ValueError(f"{path}: no subgraph")
    sg = subgraphs[0]

    def buffer_data(b: int) -> bytes | None:
        if b <= 0 or b >= len(buffers):
            return None
        bt = buffers[b]
        data = bt.vector(0, _U8)
        if data.size:
            return data.tobytes()
        offset, size = bt.scalar(1, _N.Uint64Flags, 0), bt.scalar(2, _N.Uint64Flags, 0)
        if offset > 1 and size:
            return raw[offset : offset + size]
        return None

    tensors = []
    for i, tt in enumerate(sg.tables(0)):
        shape = tuple(int(s) for s in tt.vector(0, _I32))
        ttype = tt.scalar(1, _N.Int8Flags, 0)
        if ttype not in TENSOR_TYPES:
            raise ValueError(f"{path}: tensor {i} has unsupported type {ttype}")
        dtype = TENSOR_TYPES[ttype]
        b = int(tt.scalar(2, _N.Uint32Flags, 0))
        data = buffer_data(b)
        arr = None
        if data is not None:
            arr = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        tensors.append(TFLiteTensor(i, tt.string(3), shape, dtype, b, arr))

    ops = []
    for j, ot in enumerate(sg.tables(3)):
        code = codes[ot.scalar(0, _N.Uint32Flags, 0)]
        name = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
        opts: dict = {}
        spec = OPTION_FIELDS.get(name)
        table = ot.table(4)
        if name == "RESHAPE" and table is not None:
            opts["new_shape"] = tuple(int(v) for v in table.vector(0, _I32))
        elif spec:
            for key, (slot, flags, default) in spec.items():
                opts[key] = table.scalar(slot, flags, default) if table is not None else default
            if "padding" in opts:
                opts["padding"] = PADDING[int(opts["padding"])]
            if "activation" in opts:
                opts["activation"] = ACTIVATION.get(int(opts["activation"]), str(opts["activation"]))
        ops.append(TFLiteOp(j, name, tuple(int(v) for v in ot.vector(1, _I32)),
                            tuple(int(v) for v in ot.vector(2, _I32)), opts))

    return TFLiteGraph(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        version=int(version),
        tensors=tensors,
        ops=ops,
        inputs=tuple(int(v) for v in sg.vector(1, _I32)),
        outputs=tuple(int(v) for v in sg.vector(2, _I32)),
    )
