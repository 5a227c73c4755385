"""Mixed-precision ONNX for strongly typed TensorRT builds.

TensorRT 11 removed weak typing (``BuilderFlag.FP16``, ``Builder.platform_has_fast_fp16``): an fp16
engine is built from a graph whose tensors already carry fp16 types. ``to_mixed_fp16`` rewrites an
fp32 ONNX model that way with ONNX Runtime's float16 converter (shipped inside ``onnxruntime``, so
no new dependency): weights and activations become fp16, the graph's inputs and outputs stay fp32
(Cast nodes at the edges), and the converter's block list (TopK, NonMaxSuppression, Range, CumSum,
Min/Max, ...) stays fp32. The result runs on any ONNX Runtime provider, so its numerics are checked
on the CPU before TensorRT ever sees it.

On TensorRT 10 the weakly typed path (fp32 graph + ``BuilderFlag.FP16``) is still used by default:
it lets the builder keep individual layers in fp32 where fp16 kernels are not faster.
"""

from __future__ import annotations

import os
from pathlib import Path

# Ops kept in fp32 on top of ONNX Runtime's default block list. Empty today: the measured fp16
# errors of every registered model are within 1e-3 of their output range without it (see
# tests/test_inference.py::test_mixed_fp16_onnx_matches_torch); add reductions here if a model
# with long sums (e.g. a LayerNorm over thousands of channels) is registered.
EXTRA_FP32_OPS: tuple[str, ...] = ()


def to_mixed_fp16(src: str | os.PathLike, dst: str | os.PathLike, extra_fp32_ops: tuple[str, ...] = EXTRA_FP32_OPS) -> Path:
    """Write an fp16 copy of the fp32 ONNX model ``src`` to ``dst`` (fp32 inputs/outputs kept); return ``dst``.

    Raises ``RuntimeError`` when the converted model does not pass ``onnx.checker``.
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = onnx.load(str(src))
    converted = convert_float_to_float16(model, keep_io_types=True,
                                         op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(extra_fp32_ops))
    converted.doc_string = (model.doc_string + " | mixed fp16 (fp32 I/O)").strip(" |")
    sort_nodes_topologically(converted.graph)  # the converter appends its input Casts at the end
    try:
        onnx.checker.check_model(converted)
    except onnx.checker.ValidationError as exc:
        raise RuntimeError(f"fp16 conversion of {src} produced an invalid model: {exc}") from exc
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(dst))
    return dst


def sort_nodes_topologically(graph) -> None:
    """Reorder ``graph.node`` in place so every node comes after the producers of its inputs
    (ONNX requires it, and TensorRT's parser reads nodes in order). Stable: already-sorted nodes keep
    their order. Raises ``RuntimeError`` on a cycle or an input nothing produces."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            missing = sorted({n for node in rest for n in node.input if n not in available})
            raise RuntimeError(f"cannot order the graph's nodes: inputs {missing[:5]} are never produced")
        pending = rest
    copies = [type(n)() for n in ordered]
    for dst, src in zip(copies, ordered):
        dst.CopyFrom(src)
    del graph.node[:]
    graph.node.extend(copies)


def fp16_onnx_path(onnx_path: str | os.PathLike) -> Path:
    """``<name>.onnx`` -> ``<name>.fp16.onnx`` (beside it)."""
    p = Path(onnx_path)
    return p.with_name(p.stem + ".fp16.onnx")
