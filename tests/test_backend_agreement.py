"""The estimator end to end on every available backend agrees with LiteRT (issue 11 defect 8).

``backend:=torch`` was reported to place a hand at 1.5 m where tflite and onnxruntime placed it at
0.47-0.79 m, at 8.4 Hz. On identical inputs the ported networks agree with the .tflite to ~1e-4
(tests/test_mediapipe_port.py) and the whole estimator on stills agrees to a few hundredths of a
pixel (asserted here); in streaming the tracking loop feeds each frame's landmarks into the next
frame's ROI, so 1e-4 px differences grow to about a pixel of jitter, still the same hands at the
same places (asserted here too). What differed in the live node was speed: the torch backend ran with torch's
default of one spinning intra-op thread per core (~10x slower per call on a shared CPU), so the node
processed another subset of the frames; on a bag of unrelated photos that alone changes which hand
is published where (the same happens with LiteRT when every third frame is processed). The torch
backend now runs one thread unless the backend string asks for more (``torch+threads=N``).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from hand_perception.core.config import EstimatorConfig
from hand_perception.core.estimator import HandEstimator
from hand_perception.core.types import CameraIntrinsics

torch = pytest.importorskip("torch")

BACKENDS = ["tflite", "torch"] + (["onnxruntime"] if importlib.util.find_spec("onnxruntime") else [])
REAL = ["freihand__00000355", "onehand10k__9", "panoptic_handdb__ex2_2.flv_000040_l", "rhd__11111"]


@pytest.fixture(scope="module")
def torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)  # the torch backend sets the process-wide thread count


@pytest.fixture(scope="module")
def rendered():
    from hand_models.render.tracking_scenes import crossing_scene

    return crossing_scene(num_frames=30, seed=2).frames[:10]  # hands moving towards each other


def _run(backend: str, frames, still: bool):
    est = HandEstimator(EstimatorConfig(backend=backend, num_threads=1))
    out = []
    for i, (image, K) in enumerate(frames):
        res = est.process(image, 1_000_000 + i * 33_333_333, None if K is None else CameraIntrinsics(K=K), still=still)
        out.append({h.side: h for h in res.hands})
    return out


def _compare(ref, other, kp_px: float, pos_m: float, what: str):
    for i, (a, b) in enumerate(zip(ref, other)):
        assert sorted(a) == sorted(b), f"{what} frame {i}: sides {sorted(a)} vs {sorted(b)}"
        for side in a:
            dkp = float(np.linalg.norm(a[side].keypoints_2d - b[side].keypoints_2d, axis=1).mean())
            dpos = float(np.linalg.norm(a[side].wrist_position - b[side].wrist_position))
            assert dkp < kp_px, f"{what} frame {i} {side}: keypoints {dkp:.2f} px apart"
            assert dpos < pos_m, f"{what} frame {i} {side}: wrists {dpos * 100:.1f} cm apart"
            assert abs(a[side].wrist_position[2] - b[side].wrist_position[2]) < pos_m


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "tflite"])
def test_backends_agree_on_real_stills(backend, shared_data, torch_threads):
    import cv2

    frames = []
    for name in REAL:
        meta = json.loads((shared_data / "images" / "uniform" / f"{name}.json").read_text())
        image = cv2.imread(str(shared_data / "images" / meta["image"]))[:, :, ::-1].copy()
        frames.append((image, None if meta["camera_K"] is None else np.asarray(meta["camera_K"], dtype=np.float64)))
    ref = _run("tflite", frames, still=True)
    assert sum(len(r) for r in ref) >= 4
    _compare(ref, _run(backend, frames, still=True), kp_px=0.5, pos_m=0.005, what=backend)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "tflite"])
def test_backends_agree_on_a_rendered_stream(backend, rendered, torch_threads):
    frames = [(f.image, f.K) for f in rendered]
    ref = _run("tflite", frames, still=False)
    other = _run(backend, frames, still=False)
    assert all(len(r) == 2 for r in ref)
    # measured (30 frames): mean 0.13 px / 1 mm apart, at most 1.3 px / 7.5 mm
    _compare(ref, other, kp_px=2.0, pos_m=0.02, what=backend)

    def errors(run):  # mean keypoint error (px) and wrist depth error (m) against the ground truth
        kp = [np.linalg.norm(r[s].keypoints_2d - f.hand(s).keypoints_2d, axis=1).mean() for r, f in zip(run, rendered)
              for s in r]
        z = [abs(r[s].wrist_position[2] - f.hand(s).joints_3d[0, 2]) for r, f in zip(run, rendered) for s in r]
        return float(np.mean(kp)), float(np.mean(z))

    (kp_ref, z_ref), (kp_b, z_b) = errors(ref), errors(other)
    assert kp_ref < 6.0 and z_ref < 0.08  # both where the hands are ...
    assert abs(kp_b - kp_ref) < 0.3 and abs(z_b - z_ref) < 0.005  # ... and equally accurate


def test_torch_backend_runs_one_thread_unless_asked(torch_threads):
    """torch's default (one spinning OpenMP thread per core) made the live node ~10x slower."""
    from hand_models.inference.mediapipe_port import make_backend_interpreter, tflite_path

    torch.set_num_threads(2)
    runner = make_backend_interpreter(tflite_path("landmark"), "torch", num_threads=2)
    assert runner.backend.config.threads == 1
    assert torch.get_num_threads() == 1
    # an explicit +threads= in the backend string wins
    runner = make_backend_interpreter(tflite_path("landmark"), "torch+threads=2", num_threads=1)
    assert runner.backend.config.threads == 2
    assert torch.get_num_threads() == 2
