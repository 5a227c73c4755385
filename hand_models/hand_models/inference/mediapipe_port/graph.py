"""A float TFLite graph rebuilt as a torch ``nn.Module``, op for op.

Each TFLite operator becomes one small module (``Conv2d`` with TF "SAME" padding, depthwise
``Conv2d``, ``PReLU``, ``ReLU6``, add, channel/spatial pad, bilinear resize, reshape, concat, mean,
``Linear``, sigmoid ...); the module runs them in the file's execution order. Constants that the file
stores as float16 behind ``DEQUANTIZE`` ops are folded to float32 parameters at build time, which is
exactly what the TFLite kernels compute with.

Layout: TFLite is NHWC. Inside the module every 4-D activation is NCHW (what torch, ONNX and
TensorRT convolutions want); the model's inputs and outputs keep the TFLite layout and shapes so the
port is a drop-in replacement for the interpreter. Axis arguments of layout-sensitive ops (pad,
concat, mean, reshape) are mapped once at build time. The batch dimension is dynamic (TFLite fixes
it to 1), so several crops can run in one call.

The graph description (``GraphDesc``) is plain data (lists, dicts, ints, strings), so it can be cached
next to the converted weights and rebuilt without reading the flatbuffer again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tflite_reader import TFLiteGraph

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "PRELU", "RELU", "RELU6", "LOGISTIC", "TANH", "ADD", "MUL", "SUB",
    "MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD", "RESIZE_BILINEAR", "RESHAPE", "CONCATENATION", "MEAN",
    "FULLY_CONNECTED",
)
# NHWC axis -> NCHW axis for 4-D tensors.
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class UnsupportedGraph(ValueError):
    """The .tflite graph uses an operator or a form of one that this port does not implement."""


@dataclass
class GraphDesc:
    """Plain-data description of a ported graph; ``weights`` maps parameter names to arrays."""

    name: str
    source_sha256: str
    inputs: list[dict]  # {"name", "id", "shape"} (TFLite shapes, batch first)
    outputs: list[dict]
    steps: list[dict]  # {"op", "inputs": [ids], "output": id, "attrs": {...}}
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def to_state(self) -> dict:
        return {
            "name": self.name,
            "source_sha256": self.source_sha256,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "steps": self.steps,
        }


def _act(name: str) -> str:
    if name not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1", "TANH"):
        raise UnsupportedGraph(f"fused activation {name} is not supported")
    return name


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one spatial dimension."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def describe(graph: TFLiteGraph, name: str) -> GraphDesc:
    """Turn a parsed TFLite graph into a ``GraphDesc`` (steps + float32 weights), checking every op."""
    consts: dict[int, np.ndarray] = {}
    for t in graph.tensors:
        if t.data is not None:
            consts[t.index] = t.data
    shapes = {t.index: t.shape for t in graph.tensors}
    steps: list[dict] = []
    weights: dict[str, np.ndarray] = {}

    def const(i: int, what: str) -> np.ndarray:
        if i not in consts:
            raise UnsupportedGraph(f"{what}: tensor {i} ({graph.tensors[i].name}) is not a constant")
        return np.asarray(consts[i], dtype=np.float32) if consts[i].dtype.kind == "f" else consts[i]

    for op in graph.ops:
        o = op.options
        sid = f"s{len(steps)}"
        out = op.outputs[0] if op.outputs else -1
        if op.op == "DEQUANTIZE":
            src = op.inputs[0]
            if src not in consts:
                raise UnsupportedGraph("DEQUANTIZE of a non-constant tensor (quantized model) is not supported")
            if consts[src].dtype != np.float16:
                raise UnsupportedGraph(f"DEQUANTIZE from {consts[src].dtype} (quantized model) is not supported")
            consts[out] = consts[src].astype(np.float32)
            continue
        if op.op not in SUPPORTED_OPS:
            raise UnsupportedGraph(f"operator {op.op} (op {op.index}) is not supported by the torch port")
        x = op.inputs[0]
        in_shape = shapes[x]
        step: dict = {"op": op.op, "id": sid, "inputs": [x], "output": out, "attrs": {}}
        a = step["attrs"]
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = const(op.inputs[1], op.op)
            if op.op == "CONV_2D":  # [O, kh, kw, I] -> [O, I, kh, kw]
                wt = w.transpose(0, 3, 1, 2)
                groups = 1
            else:  # [1, kh, kw, C*m] -> [C*m, 1, kh, kw], groups = C
                wt = w.transpose(3, 0, 1, 2)
                groups = in_shape[3]
                if wt.shape[0] != groups * max(1, int(o["depth_multiplier"])):
                    raise UnsupportedGraph("depthwise conv with inconsistent depth multiplier")
            kh, kw = wt.shape[2], wt.shape[3]
            dh, dw = int(o["dilation_h"]), int(o["dilation_w"])
            sh, sw = int(o["stride_h"]), int(o["stride_w"])
            if o["padding"] == "SAME":
                ph, pw = _same_pads(in_shape[1], kh, sh, dh), _same_pads(in_shape[2], kw, sw, dw)
            else:
                ph, pw = (0, 0), (0, 0)
            a.update(stride=(sh, sw), dilation=(dh, dw), groups=int(groups), pad=(pw[0], pw[1], ph[0], ph[1]),
                     activation=_act(o["activation"]), weight_shape=list(wt.shape))
            weights[f"{sid}.weight"] = np.ascontiguousarray(wt, dtype=np.float32)
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                weights[f"{sid}.bias"] = const(op.inputs[2], op.op).reshape(-1)
            a["bias"] = f"{sid}.bias" in weights
        elif op.op == "PRELU":
            alpha = const(op.inputs[1], "PRELU")
            if alpha.size != in_shape[-1] or len(in_shape) != 4:
                raise UnsupportedGraph(f"PRELU with alpha of shape {alpha.shape} (only per-channel on 4-D)")
            weights[f"{sid}.alpha"] = alpha.reshape(-1)
        elif op.op in ("ADD", "MUL", "SUB"):
            b = op.inputs[1]
            if b in consts:
                c = const(b, op.op)
                if c.ndim == 4 and len(in_shape) == 4:
                    c = c.transpose(0, 3, 1, 2)
                elif c.ndim >= 1 and len(in_shape) == 4 and c.shape[-1] > 1:
                    c = c.reshape(-1)[None, :, None, None]  # broadcast over channels
                weights[f"{sid}.const"] = np.ascontiguousarray(c, dtype=np.float32)
                step["inputs"] = [x]
                a["const"] = True
            else:
                if len(shapes[b]) != len(in_shape):
                    raise UnsupportedGraph(f"{op.op} between tensors of different rank")
                step["inputs"] = [x, b]
                a["const"] = False
            a["activation"] = _act(o.get("activation", "NONE"))
        elif op.op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            kh, kw, sh, sw = int(o["filter_h"]), int(o["filter_w"]), int(o["stride_h"]), int(o["stride_w"])
            if o["padding"] == "SAME":
                ph, pw = _same_pads(in_shape[1], kh, sh, 1), _same_pads(in_shape[2], kw, sw, 1)
            else:
                ph, pw = (0, 0), (0, 0)
            if op.op == "AVERAGE_POOL_2D" and (ph != (0, 0) or pw != (0, 0)):
                raise UnsupportedGraph("AVERAGE_POOL_2D with SAME padding is not supported")
            a.update(kernel=(kh, kw), stride=(sh, sw), pad=(pw[0], pw[1], ph[0], ph[1]),
                     activation=_act(o["activation"]))
        elif op.op == "PAD":
            p = const(op.inputs[1], "PAD").astype(np.int64)
            if len(in_shape) != 4 or p[0].any():
                raise UnsupportedGraph("PAD: only 4-D tensors without batch padding are supported")
            # NHWC pads [N, H, W, C] -> F.pad order for NCHW (W, H, C)
            a["pad"] = [int(p[2, 0]), int(p[2, 1]), int(p[1, 0]), int(p[1, 1]), int(p[3, 0]), int(p[3, 1])]
        elif op.op == "RESIZE_BILINEAR":
            size = [int(v) for v in const(op.inputs[1], "RESIZE_BILINEAR")]
            if o["align_corners"] == o["half_pixel_centers"]:
                raise UnsupportedGraph("RESIZE_BILINEAR needs exactly one of align_corners / half_pixel_centers")
            a.update(size=size, align_corners=bool(o["align_corners"]))
        elif op.op == "RESHAPE":
            out_shape = list(shapes[out])
            a.update(shape=[-1] + out_shape[1:], from_4d=len(in_shape) == 4)
        elif op.op == "CONCATENATION":
            axis = int(o["axis"])
            rank = len(in_shape)
            axis = axis % rank
            if rank == 4:
                axis = _NHWC_TO_NCHW[axis]
            step["inputs"] = list(op.inputs)
            a.update(axis=axis, activation=_act(o["activation"]))
        elif op.op == "MEAN":
            axes = sorted(int(v) % len(in_shape) for v in np.atleast_1d(const(op.inputs[1], "MEAN")))
            keep = bool(o["keep_dims"])
            if len(in_shape) == 4:
                if keep:
                    raise UnsupportedGraph("MEAN with keep_dims on a 4-D tensor is not supported")
                if 3 in axes or 0 in axes:
                    raise UnsupportedGraph("MEAN over batch or channels is not supported")
                axes = [_NHWC_TO_NCHW[v] for v in axes]
            a.update(axes=axes, keep_dims=keep, out_rank=len(shapes[out]))
        elif op.op == "FULLY_CONNECTED":
            if o.get("weights_format", 0) != 0:
                raise UnsupportedGraph("FULLY_CONNECTED with shuffled weights is not supported")
            w = const(op.inputs[1], "FULLY_CONNECTED")
            weights[f"{sid}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                weights[f"{sid}.bias"] = const(op.inputs[2], "FULLY_CONNECTED").reshape(-1)
            if len(in_shape) != 2:
                raise UnsupportedGraph("FULLY_CONNECTED on a tensor of rank != 2 is not supported")
            a.update(bias=f"{sid}.bias" in weights, weight_shape=list(w.shape),
                     activation=_act(o["activation"]))
        # RELU, RELU6, LOGISTIC, TANH: no attributes
        steps.append(step)

    def io(ids) -> list[dict]:
        return [{"name": graph.tensors[i].name, "id": int(i), "shape": list(shapes[i])} for i in ids]

    return GraphDesc(name, graph.sha256, io(graph.inputs), io(graph.outputs), steps, weights)


def _activation(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "NONE":
        return x
    if name == "RELU":
        return F.relu(x)
    if name == "RELU6":
        return F.hardtanh(x, 0.0, 6.0)
    if name == "RELU_N1_TO_1":
        return F.hardtanh(x, -1.0, 1.0)
    if name == "TANH":
        return torch.tanh(x)
    raise UnsupportedGraph(name)


class _Step(nn.Module):
    def __init__(self, desc: dict) -> None:
        super().__init__()
        self.op = desc["op"]
        self.in_ids = list(desc["inputs"])
        self.out_id = int(desc["output"])
        self.attrs = dict(desc["attrs"])
        a = self.attrs
        if self.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            self.weight = nn.Parameter(torch.zeros(a["weight_shape"]), requires_grad=False)
            if a["bias"]:
                self.bias = nn.Parameter(torch.zeros(a["weight_shape"][0]), requires_grad=False)
            else:
                self.bias = None
            if self.op != "FULLY_CONNECTED":
                self.pre_pad = None
                pad = tuple(a["pad"])
                if pad[0] == pad[1] and pad[2] == pad[3]:
                    self.conv_padding = (pad[2], pad[0])
                else:
                    self.conv_padding = (0, 0)
                    self.pre_pad = pad
        elif self.op == "PRELU":
            self.alpha = nn.Parameter(torch.zeros(0), requires_grad=False)
        elif self.op in ("ADD", "MUL", "SUB") and a["const"]:
            self.register_buffer("const", torch.zeros(0))

    def _load_shapes(self, state: dict[str, np.ndarray], prefix: str) -> None:
        """Resize placeholder parameters to the shapes in ``state`` (PReLU alpha, constants)."""
        if self.op == "PRELU":
            self.alpha = nn.Parameter(torch.zeros(state[prefix + "alpha"].shape), requires_grad=False)
        elif self.op in ("ADD", "MUL", "SUB") and self.attrs["const"]:
            self.const = torch.zeros(state[prefix + "const"].shape)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        a, op = self.attrs, self.op
        x = xs[0]
        if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if self.pre_pad is not None:
                x = F.pad(x, self.pre_pad)
            y = F.conv2d(x, self.weight, self.bias, tuple(a["stride"]), self.conv_padding, tuple(a["dilation"]),
                         a["groups"])
            return _activation(y, a["activation"])
        if op == "PRELU":
            return F.prelu(x, self.alpha)
        if op == "RELU":
            return F.relu(x)
        if op == "RELU6":
            return F.hardtanh(x, 0.0, 6.0)
        if op == "LOGISTIC":
            return torch.sigmoid(x)
        if op == "TANH":
            return torch.tanh(x)
        if op in ("ADD", "MUL", "SUB"):
            b = self.const if a["const"] else xs[1]
            y = x + b if op == "ADD" else (x * b if op == "MUL" else x - b)
            return _activation(y, a["activation"])
        if op == "MAX_POOL_2D":
            pad = tuple(a["pad"])
            if any(pad):
                x = F.pad(x, pad, value=float("-inf"))
            return _activation(F.max_pool2d(x, tuple(a["kernel"]), tuple(a["stride"])), a["activation"])
        if op == "AVERAGE_POOL_2D":
            return _activation(F.avg_pool2d(x, tuple(a["kernel"]), tuple(a["stride"])), a["activation"])
        if op == "PAD":
            return F.pad(x, tuple(a["pad"]))
        if op == "RESIZE_BILINEAR":
            return F.interpolate(x, size=tuple(a["size"]), mode="bilinear", align_corners=a["align_corners"])
        if op == "RESHAPE":
            if a["from_4d"]:
                x = x.permute(0, 2, 3, 1)
            return x.reshape(a["shape"])
        if op == "CONCATENATION":
            return _activation(torch.cat(xs, dim=a["axis"]), a["activation"])
        if op == "MEAN":
            return x.mean(dim=a["axes"], keepdim=a["keep_dims"])
        if op == "FULLY_CONNECTED":
            return _activation(F.linear(x, self.weight, self.bias), a["activation"])
        raise UnsupportedGraph(op)


class TFLiteGraphModule(nn.Module):
    """Runs a ``GraphDesc``: NHWC inputs in TFLite shapes (any batch) -> outputs in TFLite shapes.

    ``forward(*inputs)`` takes the inputs in the file's order and returns a tuple of outputs in the
    file's order; ``input_names`` / ``output_names`` are the TFLite tensor names.
    """

    def __init__(self, desc: GraphDesc) -> None:
        super().__init__()
        self.graph_name = desc.name
        self.source_sha256 = desc.source_sha256
        self.input_ids = [int(i["id"]) for i in desc.inputs]
        self.output_ids = [int(o["id"]) for o in desc.outputs]
        self.input_names = [i["name"] for i in desc.inputs]
        self.output_names = [o["name"] for o in desc.outputs]
        self.input_shapes = [list(i["shape"]) for i in desc.inputs]
        self.output_shapes = [list(o["shape"]) for o in desc.outputs]
        self.steps = nn.ModuleList(_Step(s) for s in desc.steps)
        if desc.weights:
            self.load_weights(desc.weights)

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        for i, step in enumerate(self.steps):
            step._load_shapes(weights, f"s{i}.")
        state = {}
        for k, v in weights.items():
            sid, rest = k.split(".", 1)
            state[f"steps.{int(sid[1:])}.{rest}"] = torch.from_numpy(np.ascontiguousarray(v))
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UnsupportedGraph(f"weights do not match the graph: missing {missing}, unexpected {unexpected}")

    def forward(self, *inputs: torch.Tensor):
        env: dict[int, torch.Tensor] = {}
        for i, x in zip(self.input_ids, inputs):
            env[i] = x.permute(0, 3, 1, 2) if x.dim() == 4 else x
        for step in self.steps:
            env[step.out_id] = step(*[env[j] for j in step.in_ids])
        outs = []
        for o in self.output_ids:
            y = env[o]
            outs.append(y.permute(0, 2, 3, 1) if y.dim() == 4 else y)
        return tuple(outs)
