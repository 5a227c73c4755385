"""Inference layer shared by every learned stage: one interface over torch, ONNX Runtime and TensorRT.

    from hand_models.inference import load_model
    palm = load_model("mediapipe_palm", backend="onnxruntime")     # or "torch", "tensorrt", "torch:cuda+compile"
    out = palm({"image": batch})                                   # dict of numpy in -> dict of numpy out

* ``BackendConfig``: the backend string grammar (``config.py``).
* ``ExportSpec`` / ``TensorSpec`` / ``DynamicDim``: what a model declares to be exported (``specs.py``).
* ``register_model`` / ``get_export_spec`` / ``list_models``: the model registry (``registry.py``).
* ``export_model`` / ``export_main``: ONNX + TensorRT export with manifests (``export.py``).
* ``check_manifest`` / ``ManifestError``: the load-time checks (``manifest.py``).
* ``bench_main``: per-stage latency / throughput / memory per backend (``bench.py``).
* ``mediapipe_port``: MediaPipe's palm and landmark networks as torch modules.
"""

from .backends import Backend, BackendUnavailable, InputError, OnnxRuntimeBackend, TorchBackend
from .config import BackendConfig
from .manifest import Manifest, ManifestError, check_manifest, manifest_path, read_manifest
from .registry import get_export_spec, list_models, register_model, unregister_model
from .runtime import create_backend, load_model
from .specs import DynamicDim, ExportSpec, TensorSpec, config_hash


def export_main(argv=None) -> int:
    from .export import export_main as _main

    return _main(argv)


def bench_main(argv=None) -> int:
    from .bench import bench_main as _main

    return _main(argv)


def available_backends() -> list[str]:
    """Backend strings that can run on this machine (CPU ones always; CUDA/TensorRT when present)."""
    out = ["torch"]
    try:
        import onnxruntime as ort

        out.append("onnxruntime")
        if "CUDAExecutionProvider" in ort.get_available_providers():
            out.append("onnxruntime:cuda")
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            out.append("torch:cuda")
    except ImportError:
        pass
    from .tensorrt_backend import tensorrt_available

    if tensorrt_available()[0]:
        out.append("tensorrt")
    return out


__all__ = [
    "Backend", "BackendUnavailable", "InputError", "OnnxRuntimeBackend", "TorchBackend", "BackendConfig", "Manifest",
    "ManifestError", "check_manifest", "manifest_path", "read_manifest", "get_export_spec", "list_models",
    "register_model", "unregister_model", "create_backend", "load_model", "DynamicDim", "ExportSpec", "TensorSpec",
    "config_hash", "export_main", "bench_main", "available_backends",
]
