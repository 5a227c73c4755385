"""Readers for public hand-motion datasets in their released layouts -> :class:`HandSequence`.

All readers return MANO vectors (T, 61) = [global_orient, hand_pose (45, flat-hand relative,
full axis-angle), betas, transl] in our convention, per hand side, plus what the dataset has
(joints in our 21-joint order, intrinsics, camera poses, image paths).  PCA poses are expanded
with the MANO model's own components (``ManoLayer.pca_to_pose``), so real MANO files must be
configured for real data (the procedural model has different components).

Expected layouts
----------------
HOT3D (original recordings, as in ``../shared/data/motion/orig/hot3d``)::

    <root>/<Aria|Quest3>/<recording>/mano_hand_pose_trajectory.jsonl   # one JSON per line:
        {"timestamp_ns": int, "hand_poses": {"0"|"1": {"pose": [15 PCA], "betas": [10],
         "wrist_xform": {"t_xyz": [3], "q_wxyz": [4]}}}}   ("0" left, "1" right; world frame)
    <root>/<...>/<recording>/headset_trajectory.csv   (timestamp[ns], t_wo_*, q_wo_* : device pose)
    <root>/<...>/<recording>/metadata.json

HOT3D-Clips (``clip-XXXXXX.tar``; also an extracted folder): per frame ``<frame:06d>.hands.json``
  {"left"|"right": {"mano_pose": {"thetas": [15 PCA], "wrist_xform": [4x4 or 12]},
   "mano_betas": [10]}} and ``<frame>.cameras.json`` {"<stream>": {"T_world_from_camera": ...,
   "calibration": {...}}}.

DexYCB::

    <root>/<subject>/<sequence>/meta.yml           # serials, mano_sides, mano_calib, num_frames
    <root>/<subject>/<sequence>/<serial>/labels_<frame:06d>.npz
        pose_m (1, 51): 48 PCA-space pose (3 global + 45 PCA coeffs, MANO mean not included)
        then 3 translation; joint_3d (1, 21, 3) m camera frame; joint_2d (1, 21, 2) px
    <root>/calibration/mano_<calib>/mano.yml       # betas: [10]
    <root>/calibration/intrinsics/<serial>_640x480.yml   # color: {fx, fy, ppx, ppy}

HO3D (v2/v3)::

    <root>/<train|evaluation>/<sequence>/meta/<frame:04d>.pkl   # dict: handPose (48 axis-angle,
        global first), handBeta (10), handTrans (3), handJoints3D (21, 3) or None, camMat (3, 3)
    Annotations are in OpenGL camera coordinates (y up, z backwards): converted to the optical
    frame by diag(1, -1, -1).  Right hands only.
"""

from __future__ import annotations

import csv
import json
import pickle
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hand_models.joints import to_ours

from .mano_ops import rest_wrist, transform_mano


@dataclass
class HandSequence:
    name: str
    side: str
    frame: str  # "world" or "camera"
    timestamps_ns: np.ndarray  # (T,)
    mano: np.ndarray  # (T, 61)
    valid: np.ndarray  # (T,) bool
    joints: np.ndarray | None = None  # (T, 21, 3) our order, same frame as mano
    K: np.ndarray | None = None
    camera_T_world: np.ndarray | None = None  # (T, 4, 4) when frame == "world" and known
    kp2d: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _pca_to_full(coeffs: np.ndarray, side: str, add_mean: bool, model_dir: str | None) -> np.ndarray:
    from hand_models.mano import ManoLayer

    layer = ManoLayer(side, model_dir, dtype=torch.float64)
    with torch.no_grad():
        return layer.pca_to_pose(torch.as_tensor(coeffs, dtype=torch.float64), add_mean=add_mean).numpy()


def _wrist_to_mano(R: np.ndarray, t: np.ndarray, pose45: np.ndarray, betas: np.ndarray, side: str,
                   model_dir: str | None) -> np.ndarray:
    """MANO vector from a wrist pose (rotation R, wrist joint position t) in some frame."""
    x = np.zeros((len(t), 61))
    x[:, :3] = Rotation.from_matrix(R).as_rotvec()
    x[:, 3:48] = pose45
    x[:, 48:58] = betas
    x[:, 58:61] = t - rest_wrist(betas, side, model_dir)
    return x


# ------------------------------------------------------------------------------------ HOT3D
HOT3D_SIDES = {"0": "left", "1": "right"}


def read_hot3d_recording(folder: str | Path, model_dir: str | None = None, pca_mean: bool = False) -> dict[str, HandSequence]:
    """One HOT3D recording folder -> {side: HandSequence} in the world frame (camera poses from
    ``headset_trajectory.csv`` when present).  ``pca_mean``: add the MANO mean pose to the PCA
    pose (HOT3D's MANO layer is flat-hand based, so False by default)."""
    folder = Path(folder)
    rows = [json.loads(line) for line in (folder / "mano_hand_pose_trajectory.jsonl").read_text().splitlines() if line.strip()]
    stamps = np.array([r["timestamp_ns"] for r in rows], dtype=np.int64)
    out: dict[str, HandSequence] = {}
    for key, side in HOT3D_SIDES.items():
        T = len(rows)
        pca, betas, Rm, tr, valid = np.zeros((T, 15)), np.zeros((T, 10)), np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 3)), np.zeros(T, bool)
        for i, r in enumerate(rows):
            h = r.get("hand_poses", {}).get(key)
            if not h:
                continue
            pca[i], betas[i] = h["pose"][:15], h["betas"][:10]
            w, xq, yq, zq = h["wrist_xform"]["q_wxyz"]
            Rm[i] = Rotation.from_quat([xq, yq, zq, w]).as_matrix()
            tr[i] = h["wrist_xform"]["t_xyz"]
            valid[i] = True
        if not valid.any():
            continue
        pose = _pca_to_full(pca, side, pca_mean, model_dir)
        mano = _wrist_to_mano(Rm, tr, pose, betas, side, model_dir)
        seq = HandSequence(name=folder.name, side=side, frame="world", timestamps_ns=stamps, mano=mano, valid=valid)
        head = folder / "headset_trajectory.csv"
        if head.is_file():
            seq.extra["headset"] = _read_headset(head)
        meta = folder / "metadata.json"
        if meta.is_file():
            seq.extra["metadata"] = json.loads(meta.read_text())
        out[side] = seq
    return out


def _read_headset(path: Path) -> dict[str, np.ndarray]:
    """Device poses world <- device: timestamps (T,), R (T, 3, 3), t (T, 3)."""
    ts, R, t = [], [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            ts.append(int(row["timestamp[ns]"]))
            t.append([float(row["t_wo_x[m]"]), float(row["t_wo_y[m]"]), float(row["t_wo_z[m]"])])
            R.append(Rotation.from_quat([float(row["q_wo_x"]), float(row["q_wo_y"]), float(row["q_wo_z"]),
                                         float(row["q_wo_w"])]).as_matrix())
    return {"timestamps_ns": np.array(ts, np.int64), "R_world_device": np.array(R), "t_world_device": np.array(t)}


def read_hot3d(root: str | Path, model_dir: str | None = None) -> list[HandSequence]:
    """Every recording under ``root`` (``<headset>/<recording>/``)."""
    out = []
    for f in sorted(Path(root).glob("*/*/mano_hand_pose_trajectory.jsonl")):
        out += list(read_hot3d_recording(f.parent, model_dir).values())
    return out


def read_hot3d_clip(path: str | Path, model_dir: str | None = None) -> dict[str, HandSequence]:
    """A HOT3D-Clips clip (``.tar`` or extracted folder) -> {side: HandSequence} (world frame)."""
    path = Path(path)
    files: dict[str, bytes] = {}
    if path.is_dir():
        files = {p.name: p.read_bytes() for p in path.glob("*.hands.json")}
    else:
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".hands.json"):
                    files[Path(m.name).name] = tar.extractfile(m).read()
    names = sorted(files)
    T = len(names)
    out = {}
    for side in ("left", "right"):
        pca, betas, Rm, tr, valid = np.zeros((T, 15)), np.zeros((T, 10)), np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 3)), np.zeros(T, bool)
        for i, n in enumerate(names):
            h = json.loads(files[n]).get(side)
            if not h or "mano_pose" not in h:
                continue
            pca[i] = h["mano_pose"]["thetas"][:15]
            betas[i] = h.get("mano_betas", np.zeros(10))[:10]
            X = np.asarray(h["mano_pose"]["wrist_xform"], dtype=np.float64).reshape(-1)
            X = X.reshape(4, 4) if X.size == 16 else np.vstack([X.reshape(3, 4), [0, 0, 0, 1]])
            Rm[i], tr[i], valid[i] = X[:3, :3], X[:3, 3], True
        if valid.any():
            mano = _wrist_to_mano(Rm, tr, _pca_to_full(pca, side, False, model_dir), betas, side, model_dir)
            out[side] = HandSequence(name=path.stem, side=side, frame="world", timestamps_ns=np.arange(T, dtype=np.int64),
                                     mano=mano, valid=valid)
    return out


# ----------------------------------------------------------------------------------- DexYCB
def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def read_dexycb_sequence(root: str | Path, subject: str, sequence: str, serial: str,
                         model_dir: str | None = None) -> HandSequence:
    """One DexYCB sequence seen by one camera -> HandSequence in that camera's frame."""
    root = Path(root)
    seq_dir = root / subject / sequence
    meta = _yaml(seq_dir / "meta.yml")
    side = meta["mano_sides"][0]
    betas = np.asarray(_yaml(root / "calibration" / f"mano_{meta['mano_calib'][0]}" / "mano.yml")["betas"], dtype=np.float64)
    intr = _yaml(root / "calibration" / "intrinsics" / f"{serial}_640x480.yml")["color"]
    K = np.array([[intr["fx"], 0, intr["ppx"]], [0, intr["fy"], intr["ppy"]], [0, 0, 1.0]])
    files = sorted((seq_dir / serial).glob("labels_*.npz"))
    T = len(files)
    pose_m, joints, kp2d = np.zeros((T, 51)), np.zeros((T, 21, 3)), np.zeros((T, 21, 2))
    for i, f in enumerate(files):
        d = np.load(f)
        pose_m[i], joints[i], kp2d[i] = d["pose_m"][0], d["joint_3d"][0], d["joint_2d"][0]
    valid = np.abs(pose_m).sum(1) > 0  # DexYCB marks frames without a hand by zeros
    mano = np.zeros((T, 61))
    mano[:, :3] = pose_m[:, :3]
    mano[:, 3:48] = _pca_to_full(pose_m[:, 3:48], side, True, model_dir)  # DexYCB: flat_hand_mean=False
    mano[:, 48:58] = betas
    mano[:, 58:61] = pose_m[:, 48:51]
    return HandSequence(name=f"{subject}/{sequence}/{serial}", side=side, frame="camera",
                        timestamps_ns=(np.arange(T) * 1e9 / 30).astype(np.int64), mano=mano, valid=valid,
                        joints=to_ours(joints, "dexycb"), K=K, kp2d=to_ours(kp2d, "dexycb"))


def read_dexycb(root: str | Path, model_dir: str | None = None) -> list[HandSequence]:
    out = []
    for meta in sorted(Path(root).glob("*/*/meta.yml")):
        serials = _yaml(meta).get("serials", [])
        for s in serials:
            if (meta.parent / str(s)).is_dir():
                out.append(read_dexycb_sequence(root, meta.parent.parent.name, meta.parent.name, str(s), model_dir))
    return out


# ------------------------------------------------------------------------------------- HO3D
OPENGL_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


def read_ho3d_sequence(folder: str | Path, model_dir: str | None = None, flat_hand_mean: bool = True) -> HandSequence:
    """One HO3D sequence folder (with ``meta/``) -> HandSequence in the optical camera frame."""
    folder = Path(folder)
    files = sorted((folder / "meta").glob("*.pkl"))
    T = len(files)
    mano, joints, valid, K = np.zeros((T, 61)), np.full((T, 21, 3), np.nan), np.zeros(T, bool), None
    for i, f in enumerate(files):
        with open(f, "rb") as fh:
            d = pickle.load(fh, encoding="latin1")
        if d.get("camMat") is not None:
            K = np.asarray(d["camMat"], dtype=np.float64)
        if d.get("handPose") is None or d.get("handTrans") is None:
            continue
        x = np.zeros(61)
        x[:48] = np.asarray(d["handPose"], dtype=np.float64).reshape(48)
        x[48:58] = np.asarray(d["handBeta"], dtype=np.float64).reshape(10)
        x[58:61] = np.asarray(d["handTrans"], dtype=np.float64).reshape(3)
        mano[i] = x
        valid[i] = True
        if d.get("handJoints3D") is not None and np.asarray(d["handJoints3D"]).shape == (21, 3):
            joints[i] = to_ours(np.asarray(d["handJoints3D"], dtype=np.float64), "ho3d") @ OPENGL_TO_OPTICAL
    if not flat_hand_mean:
        mano[:, 3:48] = _pca_to_full(np.zeros((T, 0)), "right", True, model_dir) + mano[:, 3:48]
    # OpenGL -> optical frame: rotate the whole hand by diag(1, -1, -1) about the camera origin
    mano[valid] = transform_mano(mano[valid], OPENGL_TO_OPTICAL, np.zeros(3), "right", model_dir)
    return HandSequence(name=folder.name, side="right", frame="camera", timestamps_ns=np.arange(T, dtype=np.int64),
                        mano=mano, valid=valid, joints=joints, K=K)


def read_ho3d(root: str | Path, split: str = "train", model_dir: str | None = None) -> list[HandSequence]:
    return [read_ho3d_sequence(d, model_dir) for d in sorted((Path(root) / split).iterdir()) if (d / "meta").is_dir()]
