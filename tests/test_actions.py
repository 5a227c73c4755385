"""Action recognition: features, training, checkpoints (taxonomy / joint-layout refusal),
evaluation with bad input, the FPHA split reader, ONNX export, and the core's online labels.
Tiny models and synthetic sequences only (seconds); never a trained FPHA checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from hand_models.networks.actions.features import FeatureConfig, fill_gaps, mirror, window_features
from hand_models.networks.actions.model import (ActionRecognizerNet, CheckpointMismatch, EnsembleRecognizer,
                                                RecognizerConfig, load_checkpoint, save_checkpoint)

torch.set_num_threads(1)
FPS = 30.0


def _hand(rng: np.random.Generator) -> np.ndarray:
    """A plausible right hand (21, 3) metres: wrist at the origin, fingers along +x."""
    j = np.zeros((21, 3))
    for f, y in enumerate((-0.03, -0.02, 0.0, 0.015, 0.03)):
        base = 1 + 4 * f
        for k in range(4):
            j[base + k] = [0.03 + 0.025 * k, y + 0.004 * k * (f == 0), 0.005 * k]
    return j + rng.normal(scale=0.002, size=j.shape)


def synthetic_sequence(label: int, T: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 2, 21, 3): class 0 slides the right hand along x, class 1 turns it about z, class 2 curls fingers."""
    h = _hand(rng)
    out = np.full((T, 2, 21, 3), np.nan)
    for t in range(T):
        a = t / max(T - 1, 1)
        j = h.copy()
        if label == 0:
            j = j + [0.15 * a, 0, 0]
        elif label == 1:
            c, s = np.cos(1.5 * a), np.sin(1.5 * a)
            j = j @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
        else:
            j[1:] = j[1:] * (1 - 0.4 * a) + [0, 0, 0.03 * a]
        out[t, 1] = j + [0.1, 0.0, 0.5]
    return out


@dataclass
class Seq:
    name: str
    joints: np.ndarray
    fps: float
    label: object


LABELS = ["slide_hand", "turn_hand", "curl_fingers"]


def tiny_model(labels=LABELS, taxonomy="fpha", arch="tcn_gru", streams=2) -> ActionRecognizerNet:
    torch.manual_seed(0)
    return ActionRecognizerNet(list(labels), FeatureConfig(length=16), RecognizerConfig(arch=arch, hidden=16, layers=1,
                                                                                         streams=streams), taxonomy)


# -- features --------------------------------------------------------------------------------------
def test_features_mirror_gaps_and_errors():
    rng = np.random.default_rng(0)
    right = synthetic_sequence(1, 40, rng)
    left = np.full_like(right, np.nan)
    left[:, 0] = mirror(right[:, 1])
    cfg = FeatureConfig(length=16)
    fr, fl = window_features(right, FPS, cfg), window_features(left, FPS, cfg)
    assert fr.shape == (16, cfg.dim) and fr.dtype == np.float32
    np.testing.assert_allclose(fl, fr, atol=1e-5)  # a left hand is read as the mirrored right hand
    holed = right.copy()
    holed[10:14, 1] = np.nan  # whole frames missing
    holed[20, 1, 8] = np.nan  # one joint missing
    fh = window_features(holed, FPS, cfg)
    assert np.isfinite(fh).all() and np.abs(fh - fr).max() < 0.5 * np.abs(fr).max()
    filled = fill_gaps(holed[:, 1])
    np.testing.assert_allclose(filled[12], 0.5 * (right[11, 1] + right[13, 1]), atol=0.01)
    assert np.isfinite(window_features(right[:1], FPS, cfg)).all()  # one frame is enough
    with pytest.raises(ValueError, match="no hand"):
        window_features(np.full((5, 2, 21, 3), np.nan), FPS, cfg)
    with pytest.raises(ValueError, match=r"\(T, 2, 21, 3\)"):
        window_features(np.zeros((5, 21, 3)), FPS, cfg)


# -- checkpoints -------------------------------------------------------------------------------------
def test_checkpoint_roundtrip_and_refusals(tmp_path):
    m = tiny_model()
    path = save_checkpoint(tmp_path / "r.pt", m)
    x = torch.randn(2, 16, m.features.dim)
    back = load_checkpoint(path, taxonomy="fpha")
    assert back.labels == LABELS and back.taxonomy == "fpha"
    torch.testing.assert_close(back(x), m.eval()(x))
    with pytest.raises(CheckpointMismatch, match=r"taxonomy 'fpha' \(expected 'h2o'\)"):
        load_checkpoint(path, taxonomy="h2o")
    state = torch.load(path, weights_only=True)
    state["joint_layout"] = "mano16"
    torch.save(state, tmp_path / "other_layout.pt")
    with pytest.raises(CheckpointMismatch, match=r"joint layout 'mano16' \(expected 'canonical21'\)"):
        load_checkpoint(tmp_path / "other_layout.pt")
    torch.save({"model": {}}, tmp_path / "not_a_recognizer.pt")
    with pytest.raises(CheckpointMismatch, match="not an action recogniser"):
        load_checkpoint(tmp_path / "not_a_recognizer.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


# -- training + evaluation ---------------------------------------------------------------------------
def _dataset(n_per_class: int, seed: int):
    from hand_training.actions.data import LabelledSequence

    rng = np.random.default_rng(seed)
    return [LabelledSequence(f"s{c}_{i}", synthetic_sequence(c, int(rng.integers(20, 60)), rng), FPS, c, f"Subject_{i % 2 + 1}")
            for c in range(3) for i in range(n_per_class)]


def test_training_learns_and_evaluation_handles_bad_input():
    from hand_training.actions.data import AugmentConfig
    from hand_training.actions.evaluate import evaluate_recognizer
    from hand_training.actions.train import ModelSpec, TrainConfig, build_views, train_recognizer

    train = _dataset(6, 0)
    views = build_views(train, 3, 16, AugmentConfig(), progress=False)
    spec = ModelSpec("t", RecognizerConfig(arch="tcn_gru", hidden=16, layers=1, streams=2),
                     train=TrainConfig(epochs=15, batch_size=8, lr=5e-3))
    model = train_recognizer(spec, views, np.array([s.label for s in train]), LABELS, 16, "fpha", progress=False)
    rng = np.random.default_rng(5)
    test = [Seq(f"t{c}", synthetic_sequence(c, 45, rng), FPS, LABELS[c]) for c in range(3) for _ in range(3)]
    nan_hand = synthetic_sequence(0, 45, rng)
    nan_hand[5:9] = np.nan
    nan_hand[:, 1, 3] = np.nan
    bad = [Seq("short", synthetic_sequence(2, 3, rng), FPS, "curl_fingers"), Seq("nan_joints", nan_hand, FPS, 0),
           Seq("no_hand", np.full((30, 2, 21, 3), np.nan), FPS, "slide_hand"),
           Seq("unknown_label", synthetic_sequence(0, 30, rng), FPS, "juggle"),
           Seq("bad_shape", np.zeros((30, 21, 3)), FPS, "slide_hand")]
    res = evaluate_recognizer(model, test + bad)
    assert res["top1"] >= 0.6  # 3 classes: chance is 0.33
    assert res["sequences"] == len(test) + 2 and res["fpha_1to1_sequences"] == res["sequences"]
    assert {s["name"] for s in res["skipped"]} == {"no_hand", "unknown_label", "bad_shape"}
    assert set(res["online_top1"]) == {"0.5", "1.0", "2.0"}
    assert np.asarray(res["confusion"]).sum() == res["sequences"]
    json.dumps(res)


# -- FPHA split reader and CLI on a fake dataset -------------------------------------------------------
def _write_fake_fpha(root: Path, rng) -> None:
    lines_tr, lines_te = [], []
    for c, action in enumerate(LABELS):
        for subj in (1, 2):
            for rep in (1, 2):
                name = f"Subject_{subj}/{action}/{rep}"
                (lines_te if (subj, rep) == (1, 1) else lines_tr).append(f"{name} {c}")
                if name == "Subject_2/turn_hand/2":
                    continue  # listed, missing on disk
                j = synthetic_sequence(c, 40, rng)[:, 1] * 1000.0
                from hand_models.joints import FPHA_TO_OURS

                fpha_order = np.empty_like(j)
                fpha_order[:, FPHA_TO_OURS] = j
                d = root / name
                d.mkdir(parents=True)
                (d / "skeleton.txt").write_text("\n".join(f"{t} " + " ".join(f"{v:.4f}" for v in fpha_order[t].ravel())
                                                          for t in range(len(j))))
    (root / "data_split_action_recognition.txt").write_text(
        f"Training {len(lines_tr)}\n" + "\n".join(lines_tr) + f"\nTest {len(lines_te)}\n" + "\n".join(lines_te) + "\n")


def test_split_reader_and_cli_evaluate_export(tmp_path, capsys):
    from hand_training.actions.__main__ import main
    from hand_training.actions.data import load_fpha_split

    root = tmp_path / "data" / "motion" / "orig" / "fpha"
    root.mkdir(parents=True)
    _write_fake_fpha(root, np.random.default_rng(1))
    split = load_fpha_split(tmp_path / "data")
    assert split.labels == LABELS
    assert len(split.train) == 8 and len(split.test) == 3 and split.missing == ["Subject_2/turn_hand/2"]
    assert all(s.split == "train" and not s.name.startswith("Subject_1/") or s.name.endswith("/2") for s in split.train)
    assert split.train[0].joints.shape[1:] == (2, 21, 3) and np.isnan(split.train[0].joints[:, 0]).all()
    ckpt = save_checkpoint(tmp_path / "rec.pt", tiny_model())
    assert main(["evaluate", "--recognizer", str(ckpt), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "ev.json")]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["fpha_1to1_sequences"] == 3 and 0.0 <= last["fpha_1to1_top1"] <= 1.0
    assert (tmp_path / "plots" / "ev_confusion.png").is_file()
    assert main(["evaluate", "--recognizer", str(tmp_path / "nope.pt"), "--data", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    pytest.importorskip("onnxruntime")
    assert main(["export", "--recognizer", str(ckpt), "--out", str(tmp_path / "onnx")]) == 0
    man = json.loads((tmp_path / "onnx" / "action_recognizer.onnx.manifest.json").read_text())
    assert man["config"]["taxonomy"] == "fpha" and man["config"]["labels"] == LABELS
    assert man["parity"]["onnxruntime_cpu_vs_torch"]


def test_cli_train_tiny_config(tmp_path, capsys):
    """The whole path data -> CV -> checkpoints -> report/plots/card -> recognizer.pt on a fake FPHA."""
    import yaml

    from hand_training.actions.__main__ import main

    root = tmp_path / "data" / "motion" / "orig" / "fpha"
    root.mkdir(parents=True)
    _write_fake_fpha(root, np.random.default_rng(2))
    conf = {"length": 16, "views": 2, "cv": True, "cv_protocols": ["loso", "repetition"],
            "train": {"epochs": 2, "batch_size": 4},
            "models": {"baseline": {"arch": "bigru", "hidden": 8, "layers": 2, "groups": ["rel"]},
                       "skeleton": {"arch": "tcn_gru", "hidden": 8, "layers": 1, "streams": 2}},
            "ensembles": {"both": ["baseline", "skeleton"]}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(out), "--data", str(tmp_path / "data"),
                 "--no-progress"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["selected"] in ("baseline", "skeleton") and last["skeleton"]["cv_top1"] is not None
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["models"]["baseline"]["cv"]["folds"]) == {"Subject_1", "Subject_2"}
    # by repetition: each (subject, action)'s repetitions alternate between repA and repB
    assert set(rep["models"]["skeleton"]["cv_repetition"]["folds"]) == {"repA", "repB"}
    assert rep["models"]["both"]["cv_repetition"]["sequences"] == 8
    assert rep["missing_sequences"] == ["Subject_2/turn_hand/2"] and rep["test_sequences_present"] == 3
    for f in ("recognizer.pt", "baseline.card.md", "skeleton.card.md", "plots/skeleton_cv_confusion.png",
              "plots/skeleton_test45_online.png"):
        assert (out / f).is_file(), f
    assert "do not ship" in (out / "skeleton.card.md").read_text()
    ens = load_checkpoint(out / "both.pt", taxonomy="fpha")
    assert isinstance(ens, EnsembleRecognizer) and rep["models"]["both"]["cv"]["sequences"] == 8
    members = [load_checkpoint(out / f"{m}.pt") for m in ("baseline", "skeleton")]
    x = torch.randn(3, 16, ens.features.dim)
    from hand_training.actions.train import group_columns

    mean = sum(torch.softmax(m(x[..., torch.from_numpy(group_columns(m.features.groups, ens.features.groups))]), -1)
               for m in members) / 2
    torch.testing.assert_close(torch.softmax(ens(x), -1), mean)
    assert load_checkpoint(out / "recognizer.pt", taxonomy="fpha").labels == LABELS
    # --cached-only trains nothing: the same numbers from the finished folds / models
    (out / "cv" / "skeleton_Subject_2.json").unlink()
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(out), "--data", str(tmp_path / "data"),
                 "--no-progress", "--cached-only"]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["models"]["baseline"]["cv"]["top1"] == rep["models"]["baseline"]["cv"]["top1"]
    assert list(again["models"]["skeleton"]["cv"]["folds"]) == ["Subject_1"]
    assert again["selected"]["by"] == "CV top-1 over the folds ['Subject_1']"
    assert list(again["models"]["both"]["cv"]["folds"]) == ["Subject_1"]
    assert not (out / "cv" / "skeleton_Subject_2.json").exists()


# -- core: online labels in the forecaster ------------------------------------------------------------
def _hands(joints_right: np.ndarray, track_id: int = 1):
    from hand_perception.core.learned_forecasting import hand_state_from_joints

    return [hand_state_from_joints("right", joints_right, track_id=track_id)]


def test_core_online_labels_and_pipeline_config(tmp_path):
    from hand_perception.core.action_recognition import ActionRecognitionConfig, OnlineActionRecognizer
    from hand_perception.core.config import pipeline_config_from_dict
    from hand_perception.core.node_logic import build_forecaster

    labels = [f"action_{i}" for i in range(45)]
    ckpt = save_checkpoint(tmp_path / "fpha_random.pt", tiny_model(labels))
    rec = OnlineActionRecognizer(ActionRecognitionConfig(checkpoint=str(ckpt), window_s=1.0))
    seq = synthetic_sequence(1, 60, np.random.default_rng(3))[:, 1]
    assert rec.actions() == []
    for t in range(5):  # 0.13 s: not enough observation yet
        rec.observe(int(t * 1e9 / 30), "cam", _hands(seq[t]))
    assert rec.actions() == []
    for t in range(5, 60):
        rec.observe(int(t * 1e9 / 30), "cam", _hands(seq[t]))
    (est,) = rec.actions()
    assert est.taxonomy == "fpha" and est.side == "right" and len(est.hypotheses) == 5
    probs = [h.probability for h in est.hypotheses]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert est.window_end_ns - est.window_start_ns == pytest.approx(1e9, abs=4e7)  # the last window_s
    # bad hands are dropped with a warning and do not break the window
    bad = _hands(seq[59])
    bad[0].joints = np.full((21, 3), np.nan)
    rec.observe(int(60 * 1e9 / 30), "cam", bad)
    assert rec.last_warnings and len(rec.actions()) == 1
    # wired through the pipeline config (ROS-free core, as the hand_forecaster node builds it)
    cfg = pipeline_config_from_dict({"forecast": {"recognizer": str(ckpt)}})
    fc = build_forecaster(cfg)
    for t in range(40):
        fc.observe(int(t * 1e9 / 30), "cam", _hands(seq[t]))
    acts = fc.actions()
    assert any(a.taxonomy == "fpha" for a in acts) and fc.forecast() is not None
    with pytest.raises(CheckpointMismatch, match="taxonomy 'fpha'.*expected 'h2o'"):
        build_forecaster(pipeline_config_from_dict({"forecast": {"recognizer": str(ckpt), "recognizer_taxonomy": "h2o"}}))


def test_core_window_resamples_irregular_stamps(tmp_path):
    from hand_perception.core.action_recognition import ActionRecognitionConfig, OnlineActionRecognizer

    rec = OnlineActionRecognizer(ActionRecognitionConfig(window_s=1.0, max_gap_s=0.2), model=tiny_model())
    base = _hand(np.random.default_rng(0))
    stamps = np.cumsum(np.random.default_rng(1).uniform(0.03, 0.05, 40))  # ~25 Hz with jitter
    for t in stamps:
        rec.observe(int(t * 1e9), "cam", _hands(base + [0.2 * t, 0.0, 0.5]))
    w = rec.window("right")
    kept = stamps[stamps >= stamps[-1] - 1.0]  # the samples of the last window_s
    assert len(w) == int(np.floor((kept[-1] - kept[0]) * 30 + 1e-6)) + 1 and 28 <= len(w) <= 31
    assert rec.window("left") is None
    grid = stamps[-1] - np.arange(len(w) - 1, -1, -1) / 30.0
    np.testing.assert_allclose(w[:, 0, 0], base[0, 0] + 0.2 * grid, atol=1e-9)  # linear motion is kept exactly
    # a gap longer than max_gap_s restarts the window; less than min_observed_s after it: no label
    t = stamps[-1] + 0.5
    rec.observe(int(t * 1e9), "cam", _hands(base))
    assert rec.window("right") is None and rec.actions() == []
