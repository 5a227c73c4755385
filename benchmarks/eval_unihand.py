"""Does the trained UniHand beat One-Euro filtering on noisy, occluded keypoints?

Held-out synthetic sequences (seeds disjoint from training, static camera) and the real FPHA
motion in ../shared/data (evaluation only) are projected to 2D with their intrinsics, degraded
with pixel noise, outliers, occluded fingers and dropped frames (``hand_training.data.synthetic.
observe``), and given to

* ``raw``: the per-frame noisy 3D joints (last observation held through gaps);
* ``one_euro``: the estimator's default temporal stage (OneEuroTemporalModel, default settings)
  on the same per-frame hands; after its gap limit the last output is held;
* ``unihand``: the trained model conditioned on the 2D and 3D keypoints with per-frame masks,
  initial pose from inverse kinematics on the first detected frame, windows of 48 frames.

Reports PA-MPJPE / MPJPE (mm), acceleration error (mm/frame^2), and PA-MPJPE on the dropped
frames only.  ``--quick`` evaluates fewer sequences (under a minute).  Last line: JSON.

    python benchmarks/eval_unihand.py --checkpoint outputs/unihand_small/unihand.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "ros2_ws" / "src" / "hand_perception"))

from hand_models.fitting import ManoFitter  # noqa: E402
from hand_models.networks.unihand.inference import UniHandPredictor, load_checkpoint  # noqa: E402
from hand_training import metrics  # noqa: E402
from hand_training.data.synthetic import ObservationNoise, SyntheticConfig, SyntheticMotionGenerator, observe  # noqa: E402


def hold_fill(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill frames with mask 0 by the last valid value (the first valid one before it starts)."""
    out = values.copy()
    idx = np.where(mask > 0.5)[0]
    if len(idx) == 0:
        return out
    last = idx[0]
    for i in range(len(out)):
        if mask[i] > 0.5:
            last = i
        out[i] = values[last]
    return out


def run_one_euro(kp3d: np.ndarray, kp2d: np.ndarray, mask: np.ndarray, side: str, fps: float) -> np.ndarray:
    from hand_perception.core.temporal import OneEuroTemporalModel
    from hand_perception.core.types import HandState

    model = OneEuroTemporalModel()
    out = np.full_like(kp3d, np.nan)
    for i in range(len(kp3d)):
        hands = []
        if mask[i] > 0.5:
            hands.append(HandState(side=side, track_id=1, confidence=1.0, keypoints_2d=kp2d[i], keypoint_confidence=np.ones(21),
                                   joints=kp3d[i], wrist_position=kp3d[i, 0], wrist_orientation_xyzw=np.array([0, 0, 0, 1.0]),
                                   mano=None, bbox=np.array([0, 0, 1, 1.0])))
        res = model.update(int(round(i / fps * 1e9)) + 1, hands)
        if res:
            out[i] = res[0].joints
    valid = np.isfinite(out).all((1, 2)).astype(float)
    return hold_fill(np.nan_to_num(out), valid)


def run_unihand(pred: UniHandPredictor, fitter: dict, side: str, K, size, obs: dict) -> np.ndarray:
    """Whole sequence in disjoint windows of the model's length (last window aligned to the end)."""
    T, W = len(obs["mask"]), pred.window
    out = np.zeros((T, 21, 3))
    starts = list(range(0, max(T - W, 0) + 1, W))
    if starts[-1] + W < T:
        starts.append(T - W)
    for s in starts:
        e = min(s + W, T)
        m = obs["mask"][s:e]
        x1 = None
        if m[0] > 0.5:  # initial pose from IK on the first frame's 3D keypoints (paper: HaMeR init)
            r = fitter[side].fit(obs["kp3d"][s][None], obs["vis"][s][None])
            x1 = np.concatenate([r.global_orient[0], r.hand_pose[0], r.betas[0], r.transl[0]])
        _, j = pred.predict(side, K, size, obs["kp2d"][s:e], obs["vis"][s:e], m, obs["kp3d"][s:e], x1=x1)
        out[s:e] = j
    return out


def evaluate(seqs, pred, fitter, noise, seed, fps) -> dict:
    res = {k: {"pa_mpjpe_mm": [], "mpjpe_mm": [], "accel_mm_per_frame2": [], "pa_mpjpe_dropped_mm": []}
           for k in ("raw", "one_euro", "unihand")}
    for n, (side, K, size, gt) in enumerate(seqs):
        obs = observe(gt, K, size, np.random.default_rng([seed, n]), noise)
        if obs["mask"].sum() < 2:
            continue
        outs = {"raw": hold_fill(obs["kp3d"], obs["mask"]),
                "one_euro": run_one_euro(obs["kp3d"], obs["kp2d"], obs["mask"], side, fps),
                "unihand": run_unihand(pred, fitter, side, K, size, obs)}
        dropped = obs["mask"] < 0.5
        for k, p in outs.items():
            res[k]["pa_mpjpe_mm"].append(metrics.pa_mpjpe(p, gt))
            res[k]["mpjpe_mm"].append(metrics.mpjpe(p, gt))
            res[k]["accel_mm_per_frame2"].append(metrics.accel_error(p, gt))
            if dropped.any():
                res[k]["pa_mpjpe_dropped_mm"].append(metrics.pa_mpjpe(p[dropped], gt[dropped]))
    return {k: {m: round(float(np.mean(v)), 3) if v else None for m, v in d.items()} for k, d in res.items()} | {
        "sequences": len(seqs)}


def synthetic_sequences(n: int, seed: int, frames: int):
    gen = SyntheticMotionGenerator(SyntheticConfig(num_frames=frames, moving_camera_prob=0.0))
    out = []
    for i in range(n):
        seq = gen.sequence(np.random.default_rng([seed, 99991, i]), moving=False)
        for side, h in seq["hands"].items():
            out.append((side, seq["K"], seq["image_size"], h["joints_cam"]))
    return out


def fpha_sequences(root: Path, limit: int | None):
    files = sorted((root / "motion" / "uniform").glob("fpha__*.npz"))[:limit]
    out = []
    for f in files:
        d = np.load(f)
        j = d["joints"][:, 0].astype(np.float64) / 1000.0  # mm -> m, depth camera frame
        ok = np.isfinite(j).all((1, 2))
        j = j[ok]
        if len(j) >= 8:
            out.append((str(d["hand_sides"][0]), d["K_depth"], (640, 480), j))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(REPO / "outputs" / "unihand_small" / "unihand.pt"))
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--num-synthetic", type=int, default=40)
    ap.add_argument("--num-fpha", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps (default: config, 10)")
    ap.add_argument("--cfg-scale", type=float, default=None, help="CFG scale (default: config, 2)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.quick:
        args.num_synthetic, args.num_fpha = 6, 6
    t0 = time.perf_counter()
    model = load_checkpoint(args.checkpoint)
    pred = UniHandPredictor(model, steps=args.steps, cfg_scale=args.cfg_scale)
    fitter = {s: ManoFitter(s) for s in ("left", "right")}
    noise = ObservationNoise()
    out = {"checkpoint": args.checkpoint, "noise": noise.__dict__,
           "synthetic": evaluate(synthetic_sequences(args.num_synthetic, args.seed, 96), pred, fitter, noise, args.seed, 30.0)}
    root = Path(args.data)
    if (root / "motion" / "uniform").is_dir():
        out["fpha"] = evaluate(fpha_sequences(root, args.num_fpha), pred, fitter, noise, args.seed + 1, 30.0)
    else:
        out["fpha"] = f"skipped: {root} not found"
    out["seconds"] = round(time.perf_counter() - t0, 1)
    for part in ("synthetic", "fpha"):
        if isinstance(out[part], dict):
            print(part, json.dumps({k: v for k, v in out[part].items()}), file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
