"""G-HTT action recognition on FPHA: the pose block P, then the action block A with P frozen and
A's bottleneck aligned with text embeddings of the FPHA labels (paper eqs. 4-6), as in
:mod:`hand_training.forecasting.train_ghtt` (whose training functions this reuses).

Data: the FPHA training half plus ``aug_copies`` augmented copies of each sequence (speed,
rotation, scale, mirroring into the left hand; no cropping: A draws its own sub-windows of clips).
Objects: F-PHAB has no object estimate without images, so the clip-wise object feature omega is
the text embedding of "nothing" in training and at test time (the GT noun would leak the label).

Recognition (:func:`ghtt_predict`): the whole observed window (or a prefix) in clips of t frames;
windows shorter than one clip are padded by holding their last frame; the last ``max_clips``
clips are used (G-HTT's own limit).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from hand_models.networks.ghtt.model import GHTT
from hand_models.networks.ghtt.predict import GHTTPredictor

from ..datasets_motion.common import MotionSequence
from ..forecasting.data import encode_sequences
from ..forecasting.train_ghtt import NO_OBJECT, config_from_dict, save_ghtt, train_action_block, train_pose_block
from .data import AugmentConfig, LabelledSequence, augment

log = logging.getLogger(__name__)


def _motion(seqs: list[LabelledSequence], labels: list[str], copies: int, aug: AugmentConfig, seed: int) -> list[MotionSequence]:
    rng = np.random.default_rng(seed)
    whole = AugmentConfig(**{**aug.__dict__, "p_whole": 1.0, "drop_joint_p": 0.0})
    out = []
    for s in seqs:
        for c in range(copies + 1):
            j = s.joints if c == 0 else augment(s.joints, s.fps, rng, whole)
            out.append(MotionSequence(name=f"{s.name}#{c}", joints=j, fps=s.fps, label=labels[s.label], source="fpha"))
    return out


def train_ghtt_actions(train: list[LabelledSequence], labels: list[str], conf: dict, out: Path,
                       progress: bool = True, pose_from: GHTT | None = None) -> tuple[GHTT, dict]:
    """Train P then A on ``train``; returns the model (taxonomy set) and a summary. With
    ``pose_from``, its trained P is copied (and kept frozen) instead of training P again."""
    from hand_models.networks.ghtt.text_embeddings import taxonomy_embeddings

    cfg = config_from_dict(conf.get("model"))
    tr = conf.get("train", {})
    seed = int(tr.get("seed", 0))
    aug = AugmentConfig.from_dict(conf.get("augment"))
    motion = _motion(train, labels, int(tr.get("aug_copies", 2)), aug, seed)
    enc = encode_sequences(motion, cfg.fps)
    for e in enc:
        e.noun = ""  # omega = "nothing" (see module docstring)
    model = GHTT(cfg)
    t0 = time.time()
    if pose_from is not None:
        model.pose.load_state_dict(pose_from.pose.state_dict())
        rp = {"last": {"copied": 1.0}, "steps": 0}
    else:
        rp = train_pose_block(model, enc, int(tr.get("epochs_p", 4)), out, tr.get("max_steps_p"), seed=seed,
                              resume=True, progress=progress)
    label_text = taxonomy_embeddings("fpha", labels)
    noun_text = dict(zip([NO_OBJECT], taxonomy_embeddings("nouns_fpha", [NO_OBJECT])))
    ra = train_action_block(model, enc, labels, label_text, noun_text, int(tr.get("epochs_a", 20)), out,
                            tr.get("max_steps_a"), seed=seed, resume=True, progress=progress,
                            samples_per_epoch=tr.get("samples_per_epoch"))
    model.default_object = torch.as_tensor(noun_text[NO_OBJECT])
    model.taxonomy = "fpha"
    save_ghtt(out / "ghtt_actions.pt", model, {"taxonomy": "fpha", "joint_layout": "canonical21"})
    return model, {"P": rp["last"], "A": ra["last"], "P_steps": rp["steps"], "A_steps": ra["steps"],
                   "sequences": len(motion), "seconds": round(time.time() - t0, 1)}


def ghtt_predict(model: GHTT, windows: list[np.ndarray], fps: float) -> np.ndarray:
    """Probabilities (N, C) for joint windows [(T, 2, 21, 3) metres at ``fps``] (model rate = fps)."""
    from ..datasets_motion.common import resample

    pred = GHTTPredictor(model)
    t = model.cfg.clip_len
    out = []
    for w in windows:
        j, _ = resample(w, fps, model.cfg.fps)
        if len(j) < t:
            j = np.concatenate([j, np.repeat(j[-1:], t - len(j), 0)])
        n = len(j) // t
        out.append(pred.recognize(j[-n * t:]))
    return np.stack(out)
