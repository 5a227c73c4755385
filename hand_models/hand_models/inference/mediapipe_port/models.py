"""MediaPipe's palm detector and hand landmark model as torch modules, converted on the user's machine.

The weights come from the ``.tflite`` files inside the installed ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/palm_detection/palm_detection_<variant>.tflite``,
``mediapipe/modules/hand_landmark/hand_landmark_<variant>.tflite``, variant ``full`` or ``lite``).
They are never committed or downloaded: the first use parses the flatbuffer (~0.3 s) and caches the
converted graph + float32 weights in ``$HAND_PERCEPTION_CACHE/mediapipe_port/`` (default
``~/.cache/hand_perception``), keyed by the .tflite's sha256 and the port version.

Interfaces (batch is dynamic; everything else as in the .tflite):

* palm: ``image`` (B, 192, 192, 3) float32 RGB in [0, 1] -> ``regressors`` (B, 2016, 18) box/keypoint
  offsets in input pixels, ``classificators`` (B, 2016, 1) logits.
* landmark: ``image`` (B, 224, 224, 3) float32 RGB in [0, 1] -> ``landmarks`` (B, 63) x, y, z in crop
  pixels, ``presence`` (B, 1) probability, ``handedness`` (B, 1) probability, ``world_landmarks``
  (B, 63) metres.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from pathlib import Path

import numpy as np

from ..specs import DynamicDim, ExportSpec, TensorSpec
from .graph import GraphDesc, TFLiteGraphModule, describe
from .tflite_reader import read_tflite

PORT_VERSION = 1  # bump when the conversion changes: invalidates the cache and the exported artefacts
MEDIAPIPE_REQUIREMENT = "mediapipe==0.10.21"

MODELS = {
    "palm": {
        "file": "modules/palm_detection/palm_detection_{variant}.tflite",
        "input": ("image", 192),
        "outputs": {"Identity": "regressors", "Identity_1": "classificators"},
    },
    "landmark": {
        "file": "modules/hand_landmark/hand_landmark_{variant}.tflite",
        "input": ("image", 224),
        "outputs": {"Identity": "landmarks", "Identity_1": "presence", "Identity_2": "handedness",
                    "Identity_3": "world_landmarks"},
    },
}
VARIANTS = ("full", "lite")

# torch vs ONNX Runtime (both fp32 on the CPU): the graphs are the same ops with the same weights, so
# the only difference is summation order inside convolutions (oneDNN/NNPACK vs MLAS kernels); over
# ~40 layers that stays around 1e-6 of each output's range (measured 2e-4 px on 190 px outputs).
# Bound: 1e-5 x max|output| + 1e-4, about 10x the measured error and still far below anything the
# pipeline resolves (0.01 px, 1e-4 in probability).
PORT_TOLERANCE = (1e-5, 1e-4)
PORT_TOLERANCE_NOTE = ("fp32 vs fp32, same graph and weights; differences are kernel summation order only "
                       "(measured <= 2e-6 relative); bound = 1e-5 * max|out| + 1e-4")


class ModelFileError(FileNotFoundError):
    """The .tflite file is missing (mediapipe not installed, or a wheel without the models)."""


def mediapipe_dir() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not (spec.origin or spec.submodule_search_locations):
        raise ModelFileError(f"the Python package 'mediapipe' is not installed; the hand models ship inside its "
                             f"wheel: pip install {MEDIAPIPE_REQUIREMENT}")
    if spec.origin and spec.origin not in ("namespace", "built-in"):
        return Path(spec.origin).resolve().parent
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def mediapipe_version() -> str:
    try:
        return importlib.metadata.version("mediapipe")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tflite_path(kind: str, variant: str = "full") -> Path:
    """Path of the palm / landmark .tflite in the installed mediapipe wheel."""
    if kind not in MODELS:
        raise ValueError(f"kind must be one of {sorted(MODELS)}, got {kind!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rel = MODELS[kind]["file"].format(variant=variant)
    p = mediapipe_dir() / rel
    if not p.is_file():
        raise ModelFileError(f"{p} not found (mediapipe/{rel}); it ships inside the mediapipe 0.10.x wheel "
                             f"(1.x wheels no longer ship it): pip install {MEDIAPIPE_REQUIREMENT}")
    return p


def kind_of(path: str | os.PathLike) -> str:
    """'palm' or 'landmark' from a .tflite file name."""
    n = Path(path).name
    if n.startswith("palm_detection"):
        return "palm"
    if n.startswith("hand_landmark"):
        return "landmark"
    raise ValueError(f"{path}: not a MediaPipe palm_detection_*.tflite or hand_landmark_*.tflite file")


def cache_dir() -> Path:
    root = os.environ.get("HAND_PERCEPTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hand_perception")
    return Path(root) / "mediapipe_port"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_desc(path: str | os.PathLike, use_cache: bool = True) -> GraphDesc:
    """Converted graph + weights of a .tflite, from the cache or converted now (and cached)."""
    import torch

    path = Path(path)
    sha = _sha256(path)
    cached = cache_dir() / f"{path.stem}-{sha[:16]}-port{PORT_VERSION}.pt"
    if use_cache and cached.is_file():
        try:
            blob = torch.load(cached, map_location="cpu", weights_only=True)
            if blob["source_sha256"] == sha:
                weights = {k: v.numpy() for k, v in blob["weights"].items()}
                return GraphDesc(blob["name"], sha, blob["inputs"], blob["outputs"], blob["steps"], weights)
        except Exception:  # noqa: BLE001 - a stale or corrupt cache entry is rebuilt below
            pass
    desc = describe(read_tflite(path), path.stem)
    if use_cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        blob = dict(desc.to_state(), weights={k: torch.from_numpy(v) for k, v in desc.weights.items()})
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        torch.save(blob, tmp)
        os.replace(tmp, cached)
    return desc


def load_port(kind_or_path: str | os.PathLike, variant: str = "full", use_cache: bool = True) -> TFLiteGraphModule:
    """The torch module of ``'palm'`` / ``'landmark'`` (from the wheel) or of a .tflite path, in eval mode."""
    path = tflite_path(str(kind_or_path), variant) if str(kind_or_path) in MODELS else Path(kind_or_path)
    return TFLiteGraphModule(load_desc(path, use_cache)).eval()


def _image_inputs(size: int):
    def make(dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {"image": rng.random((dims["batch"], size, size, 3), dtype=np.float32)}

    return make


def export_spec_for(path: str | os.PathLike, max_batch: int = 8, use_cache: bool = True) -> ExportSpec:
    """``ExportSpec`` of a MediaPipe palm/landmark .tflite: module, named I/O, batch axis, tolerance."""
    path = Path(path)
    kind = kind_of(path)
    module = load_port(path, use_cache=use_cache)
    meta = MODELS[kind]
    in_name, size = meta["input"]
    if module.input_shapes != [[1, size, size, 3]]:
        raise ValueError(f"{path}: unexpected input shapes {module.input_shapes}")
    try:
        out_names = [meta["outputs"][n] for n in module.output_names]
    except KeyError:
        raise ValueError(f"{path}: unexpected output names {module.output_names}") from None
    variant = path.stem.rsplit("_", 1)[-1]
    sha = module.source_sha256
    return ExportSpec(
        name=f"mediapipe_{kind}" + ("" if variant == "full" else f"_{variant}"),
        version=f"mp{mediapipe_version()}-{sha[:12]}-port{PORT_VERSION}",
        module=module,
        inputs=[TensorSpec(in_name, ("batch", size, size, 3), "float32")],
        outputs=[TensorSpec(n, ("batch", *shape[1:]), "float32") for n, shape in zip(out_names, module.output_shapes)],
        dims={"batch": DynamicDim(1, 1, int(max_batch))},
        config={"variant": variant, "max_batch": int(max_batch)},
        example_inputs=_image_inputs(size),
        tolerance=PORT_TOLERANCE,
        tolerance_note=PORT_TOLERANCE_NOTE,
        source={"tflite": f"mediapipe/{Path(meta['file'].format(variant=variant))}", "tflite_sha256": sha,
                "mediapipe": mediapipe_version(), "port_version": PORT_VERSION},
    )


def _spec(kind: str, config: dict) -> ExportSpec:
    unknown = set(config) - {"variant", "max_batch", "tflite_path"}
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)} for mediapipe_{kind}")
    path = config.get("tflite_path") or tflite_path(kind, config.get("variant", "full"))
    return export_spec_for(path, int(config.get("max_batch", 8)))


def palm_export_spec(config: dict) -> ExportSpec:
    """Registry factory ``mediapipe_palm`` (config: variant 'full'|'lite', max_batch)."""
    return _spec("palm", config)


def landmark_export_spec(config: dict) -> ExportSpec:
    """Registry factory ``mediapipe_landmark`` (config: variant 'full'|'lite', max_batch)."""
    return _spec("landmark", config)
