"""The two MediaPipe hand models run directly with a TFLite interpreter.

The models are the ``.tflite`` files that ship inside the ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/palm_detection/palm_detection_full.tflite`` and
``mediapipe/modules/hand_landmark/hand_landmark_full.tflite``); nothing is downloaded. They are run
by the LiteRT interpreter (PyPI ``ai-edge-litert``; ``tflite-runtime`` or ``tensorflow.lite`` are
used instead when that is what is installed), and all pre/post-processing is ours
(``palm_anchors``, ``roi``), following MediaPipe's graphs:

* palm detector: the image region is letterboxed into a 192x192 RGB float tensor in [0, 1]
  (zero border), outputs (1, 2016, 18) box/keypoint offsets and (1, 2016, 1) logits.
* landmark model: the rotated ROI is resampled to 224x224 RGB float in [0, 1] (replicated border);
  outputs 21x3 landmarks in crop pixels (x, y, relative z), the hand presence probability, the
  handedness probability, and 21x3 metric world landmarks (metres, origin near the hand's centre,
  axes of the upright crop).

Handedness output: MediaPipe reads it as ``P("Left")`` for a *mirrored* (selfie) image
(``binary_classification`` with labels Left, Right). In a non-mirrored image, the hand MediaPipe calls
"Left" is the person's right hand, so ``LandmarkOutput.right_prob`` is that raw probability.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .palm_anchors import (
    DecodeOptions,
    RawDetections,
    SsdAnchorOptions,
    decode_detections,
    generate_anchors,
    weighted_nms,
)
from .roi import RotatedRect, crop, project_to_image, rotate_world

MEDIAPIPE_REQUIREMENT = "mediapipe==0.10.21"
LITERT_REQUIREMENT = "ai-edge-litert==2.3.0"
PALM_MODEL = "modules/palm_detection/palm_detection_full.tflite"
LANDMARK_MODEL = "modules/hand_landmark/hand_landmark_full.tflite"

PALM_INPUT_SIZE = 192
LANDMARK_INPUT_SIZE = 224


class ModelFileError(FileNotFoundError):
    """A MediaPipe model file is missing (mediapipe not installed, or a wheel without models)."""


def mediapipe_package_dir() -> Path:
    """Folder of the installed ``mediapipe`` package, found without importing it."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.origin:
        raise ModelFileError(
            f"the Python package 'mediapipe' is not installed; the hand models ship inside its wheel: "
            f"pip install {MEDIAPIPE_REQUIREMENT}"
        )
    return Path(spec.origin).resolve().parent


def mediapipe_model_path(relative: str) -> Path:
    """Absolute path of a model file inside the installed mediapipe wheel, or a clear error."""
    try:
        base = mediapipe_package_dir()
    except ModelFileError as exc:
        raise ModelFileError(f"cannot find mediapipe/{relative}: {exc}") from None
    path = base / relative
    if not path.is_file():
        raise ModelFileError(
            f"model file not found: {path} (mediapipe/{relative}); it ships inside the mediapipe 0.10.x "
            f"wheel (1.x wheels no longer ship it): pip install {MEDIAPIPE_REQUIREMENT}"
        )
    return path


def _resolve_model(path: str | os.PathLike | None, default_relative: str) -> Path:
    if path is None:
        return mediapipe_model_path(default_relative)
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(
            f"model file not found: {p}; the default model is mediapipe/{default_relative} from "
            f"pip install {MEDIAPIPE_REQUIREMENT}"
        )
    return p


def make_interpreter(model_path: Path, num_threads: int = 2):
    """A TFLite interpreter for ``model_path`` with tensors allocated.

    Tries ``ai_edge_litert`` (LiteRT), then ``tflite_runtime``, then ``tensorflow.lite``.
    """
    errors = []
    for module, attr in (
        ("ai_edge_litert.interpreter", "Interpreter"),
        ("tflite_runtime.interpreter", "Interpreter"),
        ("tensorflow.lite", "Interpreter"),
    ):
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # ImportError, or a broken install
            errors.append(f"{module}: {exc.__class__.__name__}")
            continue
        interp = cls(model_path=str(model_path), num_threads=max(1, int(num_threads)))
        interp.allocate_tensors()
        return interp
    raise ImportError(
        "no TFLite interpreter is installed to run the MediaPipe hand models "
        f"({'; '.join(errors)}): pip install {LITERT_REQUIREMENT}"
    )


def make_runner(model_path: Path, num_threads: int = 2, backend: str | None = None):
    """The interpreter for ``model_path``: LiteRT for ``backend`` None/'tflite', otherwise the torch
    port of the same network on that backend ('torch', 'onnxruntime', 'onnxruntime:cuda', 'tensorrt', ...;
    see ``hand_models.inference.BackendConfig``) behind the same interpreter API."""
    if backend is None or str(backend).strip().lower() in ("", "tflite", "litert"):
        return make_interpreter(model_path, num_threads)
    from hand_models.inference.mediapipe_port import make_backend_interpreter

    return make_backend_interpreter(model_path, backend, num_threads=num_threads)


@dataclass
class PalmDetection:
    """One palm in image pixels: score, box xyxy (4,), 7 keypoints (7, 2)."""

    score: float
    box: np.ndarray
    keypoints: np.ndarray


class PalmDetector:
    """MediaPipe's palm detector (full) with our SSD decoding and weighted NMS.

    ``detect(image)`` letterboxes the whole image like MediaPipe; ``detect(image, regions)`` runs the
    detector on each square region ``(x0, y0, side)`` in image pixels (parts outside the image are
    zero, as in MediaPipe's letterbox) and merges the detections of all regions with weighted NMS.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        min_score: float = 0.5,
        nms_iou: float = 0.3,
        num_threads: int = 2,
        backend: str | None = None,
    ) -> None:
        self.model_path = _resolve_model(model_path, PALM_MODEL)
        self._interp = make_runner(self.model_path, num_threads, backend)
        inp = self._interp.get_input_details()[0]
        if tuple(inp["shape"]) != (1, PALM_INPUT_SIZE, PALM_INPUT_SIZE, 3):
            raise ValueError(f"unexpected palm detector input {inp['shape']} in {self.model_path}")
        self._in_index = inp["index"]
        outs = sorted(self._interp.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self._box_index, self._score_index = outs[0]["index"], outs[1]["index"]
        self.anchors = generate_anchors(SsdAnchorOptions())
        if int(outs[0]["shape"][1]) != self.anchors.shape[0]:
            raise ValueError("palm detector output does not match the SSD anchors")
        self.min_score = float(min_score)
        self.nms_iou = float(nms_iou)
        self.calls = 0  # number of model invocations (one per region)

    def _run_region(self, image: np.ndarray, x0: float, y0: float, side: float) -> RawDetections:
        rect = RotatedRect(x0 + side / 2.0, y0 + side / 2.0, side, side, 0.0)
        tile = crop(image, rect, PALM_INPUT_SIZE, PALM_INPUT_SIZE, border="zero")
        self._interp.set_tensor(self._in_index, (tile.astype(np.float32) * (1.0 / 255.0))[None])
        self._interp.invoke()
        self.calls += 1
        raw = decode_detections(
            self._interp.get_tensor(self._box_index)[0],
            self._interp.get_tensor(self._score_index)[0],
            self.anchors,
            DecodeOptions(min_score_thresh=self.min_score),
        )
        if len(raw):
            raw.boxes = raw.boxes * side + np.array([x0, y0, x0, y0], np.float32)
            raw.keypoints = raw.keypoints * side + np.array([x0, y0], np.float32)
        return raw

    @staticmethod
    def full_image_region(width: int, height: int) -> tuple[float, float, float]:
        """The letterbox square of the whole image, centred (MediaPipe's keep_aspect_ratio)."""
        side = float(max(width, height))
        return ((width - side) / 2.0, (height - side) / 2.0, side)

    def detect(
        self, image: np.ndarray, regions: list[tuple[float, float, float]] | None = None
    ) -> list[PalmDetection]:
        h, w = image.shape[:2]
        if regions is None:
            regions = [self.full_image_region(w, h)]
        parts = [self._run_region(image, *r) for r in regions]
        parts = [p for p in parts if len(p)]
        if not parts:
            return []
        merged = RawDetections(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )
        merged = weighted_nms(merged, self.nms_iou)
        return [
            PalmDetection(float(s), b.astype(np.float64), k.astype(np.float64))
            for s, b, k in zip(merged.scores, merged.boxes, merged.keypoints)
        ]


@dataclass
class LandmarkOutput:
    """Output of the landmark model for one ROI.

    landmarks (21, 2) image px; z (21,) relative depth in px-like units of the ROI (MediaPipe's z
    times the ROI size; smaller is closer); presence in [0, 1]; right_prob = probability that this is
    the person's right hand in a non-mirrored image; world (21, 3) metres in camera axes.
    """

    landmarks: np.ndarray
    z: np.ndarray
    presence: float
    right_prob: float
    world: np.ndarray
    rect: RotatedRect


class HandLandmarkModel:
    """MediaPipe's hand landmark model (full) on a rotated ROI, projected back to the image."""

    def __init__(
        self, model_path: str | os.PathLike | None = None, num_threads: int = 2, backend: str | None = None
    ) -> None:
        self.model_path = _resolve_model(model_path, LANDMARK_MODEL)
        self._interp = make_runner(self.model_path, num_threads, backend)
        inp = self._interp.get_input_details()[0]
        if tuple(inp["shape"]) != (1, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, 3):
            raise ValueError(f"unexpected landmark model input {inp['shape']} in {self.model_path}")
        self._in_index = inp["index"]
        by_name = {d["name"]: d["index"] for d in self._interp.get_output_details()}
        # Output order in the graph: landmarks, hand flag, handedness, world landmarks.
        names = sorted(by_name, key=lambda n: (len(n), n))  # Identity, Identity_1, _2, _3
        if len(names) != 4:
            raise ValueError(f"unexpected landmark model outputs {names} in {self.model_path}")
        self._lm, self._flag, self._hand, self._world = (by_name[n] for n in names)
        self.calls = 0

    def run(self, image: np.ndarray, rect: RotatedRect) -> LandmarkOutput:
        size = LANDMARK_INPUT_SIZE
        patch = crop(image, rect, size, size, border="replicate")
        self._interp.set_tensor(self._in_index, (patch.astype(np.float32) * (1.0 / 255.0))[None])
        self._interp.invoke()
        self.calls += 1
        lm = self._interp.get_tensor(self._lm).reshape(21, 3).astype(np.float64)
        presence = float(self._interp.get_tensor(self._flag).reshape(-1)[0])
        right_prob = float(self._interp.get_tensor(self._hand).reshape(-1)[0])
        world = self._interp.get_tensor(self._world).reshape(21, 3).astype(np.float64)
        pts = project_to_image(rect, lm[:, :2] / size)
        z = lm[:, 2] / size * rect.width
        return LandmarkOutput(pts, z, presence, right_prob, rotate_world(rect, world), rect)
