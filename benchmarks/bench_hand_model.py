"""MANO forward and inverse-kinematics speed and accuracy on CPU (procedural model).

Usage: python benchmarks/bench_hand_model.py [--quick]
Prints a table, then a JSON object with the figures as its last line.
Target (DESIGN.md): IK fit under 5 ms per hand at batch 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, time_call  # noqa: E402

from hand_models.fitting import ManoFitter, pose_from_angles, sample_angles  # noqa: E402
from hand_models.mano import ManoLayer  # noqa: E402

FIT_TARGET_MS = 5.0


def make_hands(layer: ManoLayer, fitter: ManoFitter, n: int, seed: int):
    rng = np.random.default_rng(seed)
    params = dict(
        global_orient=torch.tensor(rng.normal(size=(n, 3))),
        hand_pose=torch.tensor(pose_from_angles(sample_angles(rng, n), fitter.frames)),
        betas=torch.tensor(rng.normal(size=(n, 10))),
        transl=torch.tensor(rng.normal(size=(n, 3)) * 0.1 + [0.0, 0.0, 0.5]),
    )
    return params, layer(**params).joints.numpy()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 20 if args.quick else 100
    out: dict = {"benchmark": "hand_model", "quick": args.quick, **machine(), "torch_threads": torch.get_num_threads()}
    for side in ("right", "left"):
        layer64 = ManoLayer(side, dtype=torch.float64)
        layer32 = ManoLayer(side, dtype=torch.float32)
        fitter = ManoFitter(side)
        for batch in (1, 64):
            params, joints = make_hands(layer64, fitter, batch, seed=batch)
            p32 = {k: v.float() for k, v in params.items()}
            with torch.inference_mode():
                fwd = time_call(lambda: layer32(**p32), repeats)
            fit = time_call(lambda: fitter.fit(joints), max(5, repeats // (4 if batch > 1 else 1)))
            result = fitter.fit(joints)
            refit = layer64(**result.as_torch(torch.float64)).joints.numpy()
            err = np.linalg.norm(refit - joints, axis=-1)
            noise = np.random.default_rng(7).normal(scale=0.005, size=joints.shape)
            noisy = fitter.fit(joints + noise)
            refit_noisy = layer64(**noisy.as_torch(torch.float64)).joints.numpy()
            key = f"{side}_b{batch}"
            out[f"mano_forward_ms_per_batch_{key}"] = fwd["p50_ms"]
            out[f"mano_forward_ms_per_hand_{key}"] = fwd["p50_ms"] / batch
            out[f"ik_fit_ms_per_hand_{key}"] = fit["p50_ms"] / batch
            out[f"ik_fit_p99_ms_per_batch_{key}"] = fit["p99_ms"]
            out[f"ik_clean_error_mm_mean_{key}"] = float(err.mean() * 1e3)
            out[f"ik_clean_error_mm_max_{key}"] = float(err.max() * 1e3)
            out[f"ik_noise5mm_error_to_truth_mm_{key}"] = float(np.linalg.norm(refit_noisy - joints, axis=-1).mean() * 1e3)
            out[f"noise5mm_joint_error_mm_{key}"] = float(np.linalg.norm(noise, axis=-1).mean() * 1e3)
            print(f"{key:10s} forward {fwd['p50_ms'] / batch:7.3f} ms/hand  fit {fit['p50_ms'] / batch:7.3f} ms/hand "
                  f"clean err {err.mean() * 1e3:.3f} mm (max {err.max() * 1e3:.3f})  "
                  f"5mm-noise err {out[f'ik_noise5mm_error_to_truth_mm_{key}']:.2f} mm "
                  f"(noise {out[f'noise5mm_joint_error_mm_{key}']:.2f} mm)")
    worst_b1 = max(out["ik_fit_ms_per_hand_right_b1"], out["ik_fit_ms_per_hand_left_b1"])
    out["ik_fit_target_ms"] = FIT_TARGET_MS
    out["ik_fit_meets_target_b1"] = bool(worst_b1 < FIT_TARGET_MS)
    print(f"IK fit at batch 1: {worst_b1:.2f} ms/hand (target < {FIT_TARGET_MS} ms): "
          f"{'met' if worst_b1 < FIT_TARGET_MS else 'NOT met'}")
    emit(out)
    return out


if __name__ == "__main__":
    main()
