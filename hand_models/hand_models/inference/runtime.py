"""``load_model(name, backend=...)``: the one call a stage makes to get a runnable model.

* ``torch`` backends build the module from the registry and run it directly.
* ``onnxruntime`` / ``tensorrt`` load ``<artifact_dir>/<name>.onnx`` or ``<name>.<precision>.engine``
  after checking its manifest against the model's current name, version, config hash and I/O (and,
  for engines, this machine's TensorRT version and GPU). A missing artefact is exported on the spot
  when ``auto_export`` is on (the default: the MediaPipe ports export in seconds; engines take
  minutes); a mismatching one is refused with the rebuild command, or rebuilt when the backend
  string has ``+rebuild``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .backends import Backend, OnnxRuntimeBackend, TorchBackend
from .config import BackendConfig
from .export import artifact_path, default_artifact_dir, export_onnx, export_tensorrt
from .manifest import ManifestError
from .registry import get_export_spec
from .specs import ExportSpec, specs_to_dicts

log = logging.getLogger(__name__)


def expected_identity(spec: ExportSpec) -> dict:
    return dict(spec.identity(), inputs=specs_to_dicts(spec.inputs), outputs=specs_to_dicts(spec.outputs))


def create_backend(spec: ExportSpec, backend: str | BackendConfig = "torch", artifact_dir: str | Path | None = None,
                   auto_export: bool = True) -> Backend:
    """A backend for ``spec`` (see the module docstring for how artefacts are found, checked, rebuilt)."""
    cfg = BackendConfig.parse(backend)
    if cfg.kind == "torch":
        return TorchBackend(spec.module, spec.inputs, spec.outputs, cfg, spec.name, str(spec.version))
    if cfg.kind == "tflite":
        raise ValueError("the tflite backend exists only for the MediaPipe networks "
                         "(hand_models.inference.mediapipe_port.TFLiteBackend)")
    out_dir = Path(artifact_dir) if artifact_dir else default_artifact_dir()
    expected = expected_identity(spec)
    onnx_path = artifact_path(out_dir, spec.name, "onnx")

    def ensure_onnx(force: bool) -> None:
        if force or not onnx_path.is_file():
            log.info("exporting %s to %s", spec.name, onnx_path)
            export_onnx(spec, out_dir)

    if cfg.kind == "onnxruntime":
        if not onnx_path.is_file():
            if not auto_export:
                raise ManifestError(f"{onnx_path} not found; export it with: hand-perception export {spec.name} --out {out_dir}")
            ensure_onnx(True)
        try:
            return OnnxRuntimeBackend(onnx_path, cfg, expected=expected)
        except ManifestError:
            if not cfg.rebuild:
                raise
            log.warning("%s does not match its manifest or the model; re-exporting (+rebuild)", onnx_path)
            ensure_onnx(True)
            return OnnxRuntimeBackend(onnx_path, cfg, expected=expected)

    # tensorrt
    from .tensorrt_backend import TensorRTBackend

    engine_path = artifact_path(out_dir, spec.name, "tensorrt", cfg.precision)
    engine_expected = dict(expected, precision=cfg.precision)

    def build() -> None:
        try:
            OnnxRuntimeBackend(onnx_path, "onnxruntime", expected=expected)  # validates the ONNX it builds from
        except (ManifestError, FileNotFoundError):
            ensure_onnx(True)
        export_tensorrt(spec, onnx_path, out_dir, precision=cfg.precision)

    if not engine_path.is_file():
        if not auto_export:
            raise ManifestError(f"{engine_path} not found; build it with: hand-perception export {spec.name} "
                                f"--format tensorrt --precision {cfg.precision} --out {out_dir}")
        build()
    try:
        return TensorRTBackend(engine_path, cfg, expected=engine_expected)
    except ManifestError:
        if not cfg.rebuild:
            raise
        log.warning("%s does not match (model, TensorRT version or GPU changed); rebuilding (+rebuild)", engine_path)
        build()
        return TensorRTBackend(engine_path, cfg, expected=engine_expected)


def load_model(name: str, backend: str | BackendConfig = "torch", config: dict | None = None,
               artifact_dir: str | Path | None = None, auto_export: bool = True) -> Backend:
    """Registered model ``name`` (with model ``config``) on ``backend``."""
    return create_backend(get_export_spec(name, config), backend, artifact_dir, auto_export)
