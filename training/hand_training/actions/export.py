"""ONNX export of an action recogniser checkpoint through the shared export machinery
(:func:`hand_models.inference.export.export_onnx`: ONNX + manifest + ONNX Runtime parity check),
with the taxonomy, labels, joint layout and feature config in the manifest's config."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hand_models.inference.specs import DynamicDim, ExportSpec, TensorSpec
from hand_models.networks.actions.model import ActionRecognizerNet, EnsembleRecognizer, load_checkpoint


def recognizer_export_spec(model: "ActionRecognizerNet | EnsembleRecognizer", name: str = "action_recognizer") -> ExportSpec:
    """features (batch, L, F) float32 -> logits (batch, C)."""
    L, F, C = model.features.length, model.features.dim, len(model.labels)

    members = list(getattr(model, "members", [model]))
    norm = members[0].normalizer if len(members) == 1 else None

    def example(dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((dims["batch"], L, F))
        if norm is not None:  # realistic scales for a single model
            x = norm.mean.numpy() + norm.std.numpy() * x
        return {"features": x.astype(np.float32)}

    return ExportSpec(
        name=name, version="1", module=model.eval(),
        inputs=[TensorSpec("features", ("batch", L, F))], outputs=[TensorSpec("logits", ("batch", C))],
        dims={"batch": DynamicDim(1, 1, 64)},
        config={"taxonomy": model.taxonomy, "labels": list(model.labels), "joint_layout": "canonical21",
                "features": model.features.to_dict(), "model": [m.cfg.to_dict() for m in members]},
        example_inputs=example, tolerance=(1e-4, 1e-4),
        tolerance_note="fp32 ONNX Runtime vs eager torch; BatchNorm folded, GRU as ONNX GRU",
        source={"checkpoint_kind": "hand_perception.action_recognizer/1"},
    )


def export_recognizer(ckpt: str | Path, out_dir: str | Path, name: str = "action_recognizer") -> Path:
    """Write ``<out_dir>/<name>.onnx`` + manifest from a checkpoint; returns the ONNX path."""
    from hand_models.inference.export import export_onnx

    model = load_checkpoint(ckpt, taxonomy=None)
    return export_onnx(recognizer_export_spec(model, name), out_dir)
