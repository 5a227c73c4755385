"""Replay metrics against ground truth: 3D joint errors, 2D PCK, detection, latency, forecasts.

Ground truth (:class:`GroundTruth`) comes from one of:

* **JSON** -- the synthetic renderer's ``ground_truth.json`` (``hand_models.render``,
  ``GROUND_TRUTH_FORMAT``) or any file of the same shape::

      {"frames": [{"index": 0, "file": "frame_000000.png", "stamp_ns": 0,
                   "hands": [{"side": "left", "joints_3d": [[x, y, z] x 21],
                              "keypoints_2d": [[u, v] x 21], "visibility": [21 bools]}]}],
       "camera": {"K": [[...]], "dist": [...]}, "fps": 30.0}

  (a top-level list of frames is accepted too; ``joints`` is an alias of ``joints_3d``; every
  per-hand key but ``side`` is optional). Metres, camera optical frame, our 21-joint order.
* **NPZ** -- arrays ``joints_3d`` (N, 2, 21, 3) with side 0 = left, 1 = right and NaN where a hand
  is absent; optional ``keypoints_2d`` (N, 2, 21, 2), ``visibility`` (N, 2, 21), ``stamp_ns`` (N,),
  ``index`` (N,), ``file`` (N,) strings.
* **a HandArray topic** of a bag (``--gt-topic``), matched by header stamp.

Frames are matched to ground truth by file name (image folders), by stamp (when the stamps
overlap), or else by frame index (``match='auto'``; or forced). Per matched frame and side, the
most confident predicted hand of that side is compared with the ground-truth hand.

Metrics (metres; ``_mm`` keys in millimetres for reading): MPJPE in the camera frame, MPJPE after
aligning the wrists (RA), PA-MPJPE (similarity Procrustes), per-joint errors, 2D PCK at pixel
thresholds (visible joints only) and its AUC over 0-30 px, detection rate and false positives per
side, error over time, latency percentiles and histogram, and forecast error against horizon:
for each forecast step (stamp + (t + 1) * time_step) the ground truth closest in time (within
half a frame) is compared with the mean sample (wrist error, MPJPE), with the best of the K
samples (min-of-K MPJPE), and with a static baseline (the hand as last estimated). The metric
functions are ``hand_models.geometry`` (``mpjpe``, ``pa_mpjpe``, ``pck``, ``per_joint_error``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hand_perception.core.types import BimanualForecast, FrameResult, HandState

SIDES = ("left", "right")
PCK_THRESHOLDS_PX = (5.0, 10.0, 15.0, 20.0, 30.0)
PCK_CURVE_PX = tuple(float(t) for t in range(0, 51))


@dataclass
class GTHand:
    side: str
    joints_3d: np.ndarray | None = None  # (21, 3) m
    keypoints_2d: np.ndarray | None = None  # (21, 2) px
    visibility: np.ndarray | None = None  # (21,) bool


@dataclass
class GTFrame:
    hands: list[GTHand]
    index: int | None = None
    stamp_ns: int | None = None
    name: str | None = None

    def hand(self, side: str) -> GTHand | None:
        for h in self.hands:
            if h.side == side:
                return h
        return None


def _arr(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if value is None:
        return None
    a = np.asarray(value, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"ground truth {what}: expected shape {shape}, got {a.shape}")
    if np.all(np.isnan(a)):
        return None
    return a


class GroundTruth:
    """Ground-truth frames plus the camera and fps a file may carry."""

    def __init__(self, frames: list[GTFrame], source: str = "", camera: dict[str, Any] | None = None,
                 fps: float | None = None) -> None:
        self.frames = frames
        self.source = source
        self.camera = camera or {}
        self.fps = fps
        self._by_stamp = {f.stamp_ns: f for f in frames if f.stamp_ns is not None}
        self._by_index = {f.index: f for f in frames if f.index is not None}
        self._by_name = {f.name: f for f in frames if f.name}

    def __len__(self) -> int:
        return len(self.frames)

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "GroundTruth":
        """A JSON or NPZ file (or a folder holding ``ground_truth.json``)."""
        p = Path(path)
        if p.is_dir():
            p = p / "ground_truth.json"
        if p.suffix.lower() == ".npz":
            return cls.from_npz(p)
        return cls.from_json(p)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "GroundTruth":
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read ground truth {p}: {exc}") from exc
        raw_frames = data if isinstance(data, list) else data.get("frames")
        if not isinstance(raw_frames, list):
            raise ValueError(f"{p}: no 'frames' list")
        frames = []
        for i, f in enumerate(raw_frames):
            hands = []
            for h in f.get("hands", []) or []:
                side = h.get("side")
                if side not in SIDES:
                    raise ValueError(f"{p}: frame {i}: hand side {side!r} is not left/right")
                hands.append(GTHand(
                    side=side,
                    joints_3d=_arr(h.get("joints_3d", h.get("joints")), (21, 3), f"frame {i} joints_3d"),
                    keypoints_2d=_arr(h.get("keypoints_2d"), (21, 2), f"frame {i} keypoints_2d"),
                    visibility=None if h.get("visibility") is None else np.asarray(h["visibility"], dtype=bool).reshape(21),
                ))
            stamp = f.get("stamp_ns")
            frames.append(GTFrame(hands=hands, index=int(f.get("index", i)),
                                  stamp_ns=None if stamp is None else int(stamp),
                                  name=f.get("file") or f.get("image") or None))
        camera = data.get("camera") if isinstance(data, dict) else None
        fps = data.get("fps") if isinstance(data, dict) else None
        return cls(frames, str(p), camera, float(fps) if fps else None)

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> "GroundTruth":
        p = Path(path)
        with np.load(p, allow_pickle=False) as z:
            key = "joints_3d" if "joints_3d" in z else "joints" if "joints" in z else None
            if key is None:
                raise ValueError(f"{p}: needs an array joints_3d (N, 2, 21, 3)")
            joints = np.asarray(z[key], dtype=np.float64)
            if joints.ndim != 4 or joints.shape[1:] != (2, 21, 3):
                raise ValueError(f"{p}: joints_3d must be (N, 2, 21, 3), got {joints.shape}")
            n = joints.shape[0]
            kp = np.asarray(z["keypoints_2d"], dtype=np.float64) if "keypoints_2d" in z else None
            vis = np.asarray(z["visibility"], dtype=bool) if "visibility" in z else None
            stamps = np.asarray(z["stamp_ns"], dtype=np.int64) if "stamp_ns" in z else None
            index = np.asarray(z["index"], dtype=np.int64) if "index" in z else np.arange(n)
            files = [str(s) for s in z["file"]] if "file" in z else None
        frames = []
        for i in range(n):
            hands = []
            for s, side in enumerate(SIDES):
                j = joints[i, s]
                k = kp[i, s] if kp is not None else None
                if np.all(np.isnan(j)) and (k is None or np.all(np.isnan(k))):
                    continue
                hands.append(GTHand(side, None if np.all(np.isnan(j)) else j,
                                    None if k is None or np.all(np.isnan(k)) else k,
                                    None if vis is None else vis[i, s]))
            frames.append(GTFrame(hands, int(index[i]), None if stamps is None else int(stamps[i]),
                                  None if files is None else files[i]))
        return cls(frames, str(p))

    @classmethod
    def from_frame_results(cls, results: Sequence[FrameResult], source: str = "") -> "GroundTruth":
        """From HandArray messages (a ground-truth topic): joints, keypoints, confidence > 0 as
        visibility; the most confident hand per side."""
        frames = []
        for i, r in enumerate(results):
            hands = []
            for side in SIDES:
                cands = [h for h in r.hands if h.side == side]
                if not cands:
                    continue
                h = max(cands, key=lambda x: float(x.confidence))
                hands.append(GTHand(side, np.asarray(h.joints, dtype=np.float64),
                                    np.asarray(h.keypoints_2d, dtype=np.float64),
                                    np.asarray(h.keypoint_confidence) > 0))
            frames.append(GTFrame(hands, i, int(r.stamp_ns), None))
        return cls(frames, source)

    # -- matching ----------------------------------------------------------------------------
    def choose_mode(self, stamps: Sequence[int], names: Sequence[str]) -> str:
        """'name', 'stamp' or 'index' for a source with these first stamps / names."""
        if names and self._by_name and sum(n in self._by_name for n in names) >= max(1, len(names) // 2):
            return "name"
        if stamps and self._by_stamp and sum(s in self._by_stamp for s in stamps) >= max(1, len(stamps) // 2):
            return "stamp"
        return "index"

    def lookup(self, mode: str, index: int, stamp_ns: int, name: str = "") -> GTFrame | None:
        if mode == "name":
            return self._by_name.get(name)
        if mode == "stamp":
            return self._by_stamp.get(int(stamp_ns))
        return self._by_index.get(int(index))


# =========================================================================== the evaluator


def _best(hands: Sequence[HandState], side: str) -> HandState | None:
    cands = [h for h in hands if h.side == side]
    if not cands:
        return None
    return max(cands, key=lambda h: float(h.confidence) if math.isfinite(float(h.confidence)) else -1.0)


def _torch():
    import torch

    return torch


@dataclass
class _Pair:
    frame: int  # sequence position of the frame
    stamp_ns: int
    side: str
    pred_joints: np.ndarray
    gt_joints: np.ndarray | None
    pred_kp: np.ndarray
    gt_kp: np.ndarray | None
    vis: np.ndarray | None
    observed: bool


@dataclass
class Evaluator:
    """Collects predictions (and ground truth when given) during a replay; :meth:`compute` returns
    ``(metrics, series)``: a JSON-ready dict and the arrays the report plots."""

    gt: GroundTruth | None = None
    match: str = "auto"
    pck_thresholds_px: Sequence[float] = PCK_THRESHOLDS_PX
    forecast_tolerance_s: float | None = None
    _pairs: list[_Pair] = field(default_factory=list)
    _latencies: list[float] = field(default_factory=list)
    _frames: int = 0
    _pred_hands: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    _gt_hands: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    _detected: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    _false_pos: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    _frames_with_gt: int = 0
    _frames_without_gt: int = 0
    _timeline: list[tuple[int, GTFrame]] = field(default_factory=list)
    _last_pred: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    _forecasts: list[BimanualForecast] = field(default_factory=list)
    _mode: str | None = None

    def set_mode_from(self, stamps: Sequence[int], names: Sequence[str]) -> str:
        if self.gt is None:
            self._mode = "none"
        elif self.match != "auto":
            self._mode = self.match
        else:
            self._mode = self.gt.choose_mode(stamps, names)
        return self._mode

    @property
    def mode(self) -> str | None:
        return self._mode

    def add(self, index: int, stamp_ns: int, frame: FrameResult, latency_s: float, name: str = "") -> None:
        """One processed frame (``index`` its position in the source, ``name`` its file name)."""
        self._frames += 1
        if math.isfinite(latency_s):
            self._latencies.append(float(latency_s))
        for h in frame.hands:
            if h.side in self._pred_hands:
                self._pred_hands[h.side] += 1
        last = {}
        for side in SIDES:
            h = _best(frame.hands, side)
            if h is not None and np.all(np.isfinite(np.asarray(h.joints, dtype=np.float64))):
                last[side] = np.asarray(h.joints, dtype=np.float64)
        self._last_pred[int(stamp_ns)] = last
        if self.gt is None:
            return
        if self._mode is None:
            self.set_mode_from([stamp_ns], [name] if name else [])
        gtf = self.gt.lookup(self._mode or "index", index, stamp_ns, name)
        if gtf is None:
            self._frames_without_gt += 1
            return
        self._frames_with_gt += 1
        self._timeline.append((int(stamp_ns), gtf))
        seq = self._frames - 1
        for side in SIDES:
            g = gtf.hand(side)
            p = _best(frame.hands, side)
            if g is None:
                if p is not None:
                    self._false_pos[side] += 1
                continue
            self._gt_hands[side] += 1
            if p is None:
                continue
            self._detected[side] += 1
            pj = np.asarray(p.joints, dtype=np.float64)
            pk = np.asarray(p.keypoints_2d, dtype=np.float64)
            if pj.shape != (21, 3) or not np.all(np.isfinite(pj)):
                continue
            self._pairs.append(_Pair(seq, int(stamp_ns), side, pj, g.joints_3d, pk, g.keypoints_2d, g.visibility,
                                     bool(p.is_observed)))

    def add_forecast(self, forecast: BimanualForecast | None) -> None:
        if forecast is not None:
            self._forecasts.append(forecast)

    # -- metrics -----------------------------------------------------------------------------
    def _latency_metrics(self) -> dict[str, Any]:
        lat = np.asarray(self._latencies) * 1e3
        if lat.size == 0:
            return {"count": 0}
        return {
            "count": int(lat.size),
            "mean_ms": float(lat.mean()),
            "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "fps": float(1e3 / lat.mean()) if lat.mean() > 0 else None,
        }

    def _pose_metrics(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from hand_models.geometry import mpjpe, pa_mpjpe, pck, per_joint_error

        torch = _torch()
        metrics: dict[str, Any] = {}
        series: dict[str, Any] = {}
        p3 = [p for p in self._pairs if p.gt_joints is not None]
        if p3:
            pred = torch.as_tensor(np.stack([p.pred_joints for p in p3]))
            gt = torch.as_tensor(np.stack([p.gt_joints for p in p3]))
            err = per_joint_error(pred, gt)  # (M, 21)
            abs_e = mpjpe(pred, gt).numpy()
            pred_ra = pred - pred[:, :1]
            gt_ra = gt - gt[:, :1]
            ra_e = mpjpe(pred_ra, gt_ra).numpy()
            ra_joint = per_joint_error(pred_ra, gt_ra).numpy()
            pa_e = pa_mpjpe(pred, gt).numpy()
            metrics["mpjpe_m"] = float(abs_e.mean())
            metrics["mpjpe_ra_m"] = float(ra_e.mean())
            metrics["pa_mpjpe_m"] = float(pa_e.mean())
            metrics["mpjpe_mm"] = 1e3 * metrics["mpjpe_m"]
            metrics["mpjpe_ra_mm"] = 1e3 * metrics["mpjpe_ra_m"]
            metrics["pa_mpjpe_mm"] = 1e3 * metrics["pa_mpjpe_m"]
            metrics["wrist_error_m"] = float(err[:, 0].mean())
            metrics["pairs_3d"] = len(p3)
            per_side = {}
            for side in SIDES:
                m = np.array([p.side == side for p in p3])
                if m.any():
                    per_side[side] = {"mpjpe_m": float(abs_e[m].mean()), "mpjpe_ra_m": float(ra_e[m].mean()),
                                      "pa_mpjpe_m": float(pa_e[m].mean()), "pairs": int(m.sum())}
            metrics["per_side"] = per_side
            observed = np.array([p.observed for p in p3])
            if (~observed).any():
                metrics["mpjpe_bridged_m"] = float(abs_e[~observed].mean())
                metrics["bridged_pairs"] = int((~observed).sum())
            from hand_models.joints import JOINT_NAMES

            metrics["per_joint_error_m"] = {n: float(v) for n, v in zip(JOINT_NAMES, err.numpy().mean(0))}
            metrics["per_joint_error_ra_m"] = {n: float(v) for n, v in zip(JOINT_NAMES, ra_joint.mean(0))}
            series["per_joint_error_m"] = err.numpy().mean(0)
            series["per_joint_error_ra_m"] = ra_joint.mean(0)
            series["time_frame"] = np.array([p.frame for p in p3])
            series["time_stamp_ns"] = np.array([p.stamp_ns for p in p3])
            series["time_side"] = np.array([p.side for p in p3])
            series["time_mpjpe_m"] = abs_e
            series["time_mpjpe_ra_m"] = ra_e
        p2 = [p for p in self._pairs if p.gt_kp is not None and p.pred_kp.shape == (21, 2)
              and np.all(np.isfinite(p.pred_kp))]
        if p2:
            pred2 = torch.as_tensor(np.stack([p.pred_kp for p in p2]))
            gt2 = torch.as_tensor(np.stack([p.gt_kp for p in p2]))
            vis = torch.as_tensor(np.stack([p.vis if p.vis is not None else np.ones(21, bool) for p in p2]))
            keep = vis.any(-1)
            if bool(keep.any()):
                pred2, gt2, vis = pred2[keep], gt2[keep], vis[keep]
                curve = [float(pck(pred2, gt2, t, vis).mean()) for t in PCK_CURVE_PX]
                metrics["pck_2d"] = {f"{t:g}px": float(pck(pred2, gt2, float(t), vis).mean()) for t in self.pck_thresholds_px}
                thr = np.asarray(PCK_CURVE_PX)
                sel = thr <= 30.0
                trapezoid = getattr(np, "trapezoid", None) or np.trapz
                metrics["pck_2d_auc_0_30px"] = float(trapezoid(np.asarray(curve)[sel], thr[sel]) / 30.0)
                e2 = per_joint_error(pred2, gt2)
                metrics["keypoint_error_px"] = float((e2 * vis).sum() / vis.sum())
                metrics["pairs_2d"] = int(keep.sum())
                series["pck_curve_px"] = thr
                series["pck_curve"] = np.asarray(curve)
        return metrics, series

    def _detection_metrics(self) -> dict[str, Any]:
        out = {}
        total_gt = sum(self._gt_hands.values())
        total_det = sum(self._detected.values())
        for side in SIDES:
            n = self._gt_hands[side]
            out[side] = {"gt_hands": n, "detected": self._detected[side],
                         "rate": (self._detected[side] / n) if n else None,
                         "false_positives": self._false_pos[side]}
        out["rate"] = (total_det / total_gt) if total_gt else None
        out["false_positives"] = sum(self._false_pos.values())
        return out

    def _forecast_metrics(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if not self._forecasts or not self._timeline:
            return {}, {}
        stamps = np.array([s for s, _ in self._timeline], dtype=np.int64)
        order = np.argsort(stamps)
        stamps = stamps[order]
        frames = [self._timeline[i][1] for i in order]
        if self.forecast_tolerance_s is not None:
            tol = int(self.forecast_tolerance_s * 1e9)
        elif len(stamps) > 1:
            tol = int(0.5 * np.median(np.diff(stamps))) + 1
        else:
            tol = int(1e9 / 60)
        acc: dict[int, dict[str, list[float]]] = {}
        dt_s = None
        for fc in self._forecasts:
            mean = fc.mean if fc.mean is not None and fc.mean.hands else (fc.samples[0] if fc.samples else None)
            if mean is None:
                continue
            dt_s = fc.time_step_s
            last = self._last_pred.get(int(fc.stamp_ns), {})
            for traj in mean.hands:
                steps = np.asarray(traj.joints).shape[0]
                others = [next((h for h in s.hands if h.side == traj.side), None) for s in fc.samples]
                for t in range(steps):
                    target = int(fc.stamp_ns + round((t + 1) * fc.time_step_s * 1e9))
                    i = int(np.searchsorted(stamps, target))
                    best = None
                    for j in (i - 1, i):
                        if 0 <= j < len(stamps) and abs(int(stamps[j]) - target) <= tol:
                            if best is None or abs(int(stamps[j]) - target) < abs(int(stamps[best]) - target):
                                best = j
                    if best is None:
                        continue
                    g = frames[best].hand(traj.side)
                    if g is None or g.joints_3d is None:
                        continue
                    pj = np.asarray(traj.joints[t], dtype=np.float64)
                    if not np.all(np.isfinite(pj)):
                        continue
                    slot = acc.setdefault(t, {"wrist": [], "mpjpe": [], "min_k": [], "static": []})
                    slot["wrist"].append(float(np.linalg.norm(np.asarray(traj.wrist_position[t]) - g.joints_3d[0])))
                    slot["mpjpe"].append(float(np.linalg.norm(pj - g.joints_3d, axis=-1).mean()))
                    ks = [float(np.linalg.norm(np.asarray(o.joints[t]) - g.joints_3d, axis=-1).mean())
                          for o in others if o is not None and np.asarray(o.joints).shape[0] > t]
                    ks = [k for k in ks if math.isfinite(k)]
                    if ks:
                        slot["min_k"].append(min(ks))
                    if traj.side in last:
                        slot["static"].append(float(np.linalg.norm(last[traj.side] - g.joints_3d, axis=-1).mean()))
        if not acc:
            return {"forecasts": len(self._forecasts), "evaluated_steps": 0}, {}
        steps = sorted(acc)
        horizon = np.array([(t + 1) * (dt_s or 0.0) for t in steps])

        def mean_of(key: str) -> np.ndarray:
            return np.array([np.mean(acc[t][key]) if acc[t][key] else np.nan for t in steps])

        wrist, mp, mk, st = mean_of("wrist"), mean_of("mpjpe"), mean_of("min_k"), mean_of("static")
        counts = np.array([len(acc[t]["mpjpe"]) for t in steps])
        metrics = {
            "forecasts": len(self._forecasts),
            "time_step_s": dt_s,
            "horizon_s": horizon.tolist(),
            "wrist_error_m": wrist.tolist(),
            "mpjpe_m": mp.tolist(),
            "min_of_k_mpjpe_m": mk.tolist(),
            "static_baseline_mpjpe_m": st.tolist(),
            "counts": counts.tolist(),
            "ade_m": float(np.nanmean(mp)),
            "fde_m": float(mp[-1]),
        }
        series = {"forecast_horizon_s": horizon, "forecast_wrist_m": wrist, "forecast_mpjpe_m": mp,
                  "forecast_min_k_m": mk, "forecast_static_m": st}
        return metrics, series

    def compute(self) -> tuple[dict[str, Any], dict[str, Any]]:
        metrics: dict[str, Any] = {
            "frames": self._frames,
            "hands_per_frame": {s: (self._pred_hands[s] / self._frames if self._frames else 0.0) for s in SIDES},
            "latency": self._latency_metrics(),
        }
        series: dict[str, Any] = {"latency_s": np.asarray(self._latencies)}
        if self.gt is not None:
            metrics["ground_truth"] = {"source": self.gt.source, "match": self._mode, "frames_matched": self._frames_with_gt,
                                       "frames_unmatched": self._frames_without_gt}
            metrics["detection"] = self._detection_metrics()
            pose, pose_series = self._pose_metrics()
            metrics["pose"] = pose
            series.update(pose_series)
            fm, fs = self._forecast_metrics()
            if fm:
                metrics["forecast"] = fm
                series.update(fs)
        elif self._forecasts:
            metrics["forecast"] = {"forecasts": len(self._forecasts)}
        return metrics, series


def json_ready(value: Any) -> Any:
    """Convert numpy values and NaN (-> null) for json.dump."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


__all__ = ["Evaluator", "GTFrame", "GTHand", "GroundTruth", "json_ready"]
