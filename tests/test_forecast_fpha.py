"""FPHA forecasting pipeline: official split halves, augmentation, windows/metrics/coverage, the
test-half benchmark (bad input: missing split entries, short sequences, NaN joints, checkpoints of
the wrong kind / joint layout), and a tiny end-to-end training run (data -> checkpoint -> report
-> model card). Synthetic FPHA-shaped folders are built in tmp_path; nothing here needs ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hand_training.forecasting import fpha_eval as FE
from hand_training.forecasting.benchmark import CheckpointMismatch, check_checkpoint, run
from hand_training.forecasting.fpha_data import AugmentConfig, augment, mirror, training_sequences
from hand_training.forecasting.fpha_split import load_half, read_split_file

torch.set_num_threads(1)


def _motion(T: int, seed: int) -> np.ndarray:
    """(T, 21, 3) mm of a hand moving smoothly (FPHA skeleton order is irrelevant for these tests:
    joints are written in FPHA order by _write_skeleton)."""
    from hand_models.networks.ghtt.representation import template_joints

    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None] / 30.0
    base = template_joints("right")[None] + np.array([0.0, 0.0, 0.5])
    drift = np.concatenate([0.1 * np.sin(2 * t + rng.uniform(0, 6)), 0.05 * np.cos(3 * t), 0.02 * t], 1)
    return (base + drift[:, None]) * 1000.0


def _write_skeleton(path: Path, joints_mm: np.ndarray) -> None:
    from hand_models.joints import FPHA_TO_OURS

    inv = np.argsort(FPHA_TO_OURS)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [" ".join([str(i)] + [f"{v:.4f}" for v in joints_mm[i][inv].reshape(-1)]) for i in range(len(joints_mm))]
    path.write_text("\n".join(rows) + "\n")


def make_dataset(root: Path, train=(("Subject_2", "open_milk", "2", 90), ("Subject_3", "open_milk", "2", 90),
                                    ("Subject_6", "write", "2", 80)),
                 test=(("Subject_1", "open_milk", "1", 90), ("Subject_1", "write", "1", 20),
                       ("Subject_2", "write", "3", 75)),
                 missing_test=("Subject_4/write/3",)) -> Path:
    fp = root / "motion" / "orig" / "fpha"
    lines = [f"Training {len(train)}"]
    for k, (s, a, r, T) in enumerate(train):
        _write_skeleton(fp / s / a / r / "skeleton.txt", _motion(T, k))
        lines.append(f"{s}/{a}/{r} {0 if a == 'open_milk' else 1}")
    lines.append(f"Test {len(test) + len(missing_test)}")
    for k, (s, a, r, T) in enumerate(test):
        _write_skeleton(fp / s / a / r / "skeleton.txt", _motion(T, 100 + k))
        lines.append(f"{s}/{a}/{r} {0 if a == 'open_milk' else 1}")
    lines += [f"{m} 1" for m in missing_test]
    (fp / "data_split_action_recognition.txt").write_text("\n".join(lines) + "\n")
    return root


def test_split_file_and_halves(tmp_path):
    root = make_dataset(tmp_path)
    split = read_split_file(root / "motion/orig/fpha/data_split_action_recognition.txt")
    assert split["Subject_2/open_milk/2"] == ("train", 0) and split["Subject_4/write/3"] == ("test", 1)
    tr, te = load_half(root, "train"), load_half(root, "test")
    assert [s.meta["subject"] for s in tr.sequences] == ["Subject_2", "Subject_3", "Subject_6"]
    assert {s.name for s in te.sequences} == {"fpha/Subject_1/open_milk/1", "fpha/Subject_1/write/1", "fpha/Subject_2/write/3"}
    assert te.missing == ["Subject_4/write/3"] and te.other_half == 3
    assert all(s.meta["official_split"] == "test" for s in te.sequences)
    assert np.isfinite(tr.sequences[0].joints[:, 1]).all() and np.isnan(tr.sequences[0].joints[:, 0]).all()
    with pytest.raises(ValueError, match="half"):
        load_half(root, "val")


def test_uniform_layout_and_subject1_rule(tmp_path):
    """Without a split file: sidecar official_split decides, else Subject_1 repetition 1 is test."""
    uni = tmp_path / "motion" / "uniform"
    uni.mkdir(parents=True)
    for name, split in (("fpha__Subject_1__write__1", None), ("fpha__Subject_2__write__2", "train"),
                        ("fpha__Subject_3__write__2", None)):
        np.savez(uni / f"{name}.npz", joints=_motion(50, 0)[:, None].astype(np.float32), hand_sides=np.array(["right"]),
                 t_sec=np.arange(50) / 30.0)
        (uni / f"{name}.json").write_text(json.dumps({"official_split": split} if split else {}))
    te, tr = load_half(tmp_path, "test"), load_half(tmp_path, "train")
    assert [s.name for s in te.sequences] == ["fpha/Subject_1/write/1"]
    assert [s.name for s in tr.sequences] == ["fpha/Subject_2/write/2"]
    assert te.unknown == ["Subject_3/write/2"]
    assert np.allclose(te.sequences[0].joints[:, 1], _motion(50, 0) / 1000.0, atol=1e-6)


def test_augmentation_mirror_scale_speed(tmp_path):
    root = make_dataset(tmp_path)
    seq = load_half(root, "train").sequences[0]
    m = mirror(seq.joints)
    assert np.isfinite(m[:, 0]).all() and np.isnan(m[:, 1]).all()
    assert np.allclose(m[:, 0, :, 0], -seq.joints[:, 1, :, 0]) and np.allclose(m[:, 0, :, 1:], seq.joints[:, 1, :, 1:])
    cfg = AugmentConfig(copies=1, rotation_deg=0.0, scale=0.0, mirror_p=0.0, speed_min=2.0, speed_max=2.0)
    fast = augment(seq, np.random.default_rng(0), cfg)
    assert fast.num_frames == (seq.num_frames + 1) // 2  # twice the speed: half the frames
    assert np.allclose(fast.joints[1, 1], seq.joints[2, 1])
    cfg = AugmentConfig(copies=1, rotation_deg=0.0, scale=0.2, mirror_p=1.0, speed_min=1.0, speed_max=1.0)
    a = augment(seq, np.random.default_rng(1), cfg)
    s = a.meta["augment"]["scale"]
    bone = lambda j: np.linalg.norm(j[:, 9] - j[:, 0], axis=-1)  # noqa: E731
    assert a.meta["augment"]["mirrored"] and np.allclose(bone(a.joints[:, 0]), s * bone(seq.joints[:, 1]))


def test_training_sequences_hold_out_subject_and_never_use_test_half(tmp_path):
    root = make_dataset(tmp_path)
    train, val, info = training_sequences(str(root), ("Subject_6",), AugmentConfig(copies=2), seed=0)
    assert {s.meta["subject"] for s in val} == {"Subject_6"}
    assert "Subject_6" not in {s.meta["subject"] for s in train}
    assert all(s.meta["official_split"] == "train" for s in train + val)
    assert len(train) == 2 * 3 and info["augmented_sequences"] == 4
    assert any(np.isfinite(s.joints[:, 0]).any() for s in train)  # mirrored copies fill the left slot


def test_windows_metrics_and_coverage():
    seq_j = np.full((60, 2, 21, 3), np.nan)
    seq_j[:, 1] = _motion(60, 0) / 1000.0
    from hand_training.datasets_motion.common import MotionSequence

    seq = MotionSequence("s", seq_j, 30.0)
    wins = list(FE.windows([seq], stride_s=0.25))
    assert [w.obs.shape for w in wins][:1] == [(16, 2, 21, 3)] and len(wins) == len(range(15, 60 - 30, 8))
    w = wins[0]
    perfect = lambda o: np.repeat(w.gt[None], 3, 0)  # noqa: E731
    res = FE.evaluate([w], {"perfect": perfect, "zero": FE.zero_velocity})
    assert res["perfect"]["ade_mean@1.0s"] < 1e-9 and res["zero"]["ade_mean@1.0s"] > 1.0
    assert res["zero"]["coverage_5_95"] == 0.0  # one sample has no band
    # samples spread symmetrically around the truth cover it everywhere
    spread = np.stack([w.gt + d for d in np.linspace(-0.01, 0.01, 21)])
    inside, total = FE.coverage(spread, w.gt, w.valid)
    assert np.all(inside == total) and total[0] == 21 * 3


def _tiny_ghtt_ckpt(path: Path, **extra) -> Path:
    from hand_models.networks.ghtt.model import GHTT, GHTTConfig
    from hand_training.forecasting.train_ghtt import save_ghtt

    m = GHTT(GHTTConfig(d_model=16, heads=2, pose_layers=1, action_layers=1, object_layers=1, dropout=0.0))
    save_ghtt(path, m, extra)
    return path


def test_benchmark_bad_input_and_checkpoint_mismatch(tmp_path):
    root = make_dataset(tmp_path / "data")
    # a NaN joint in the test half: still evaluated, never scored
    sk = root / "motion/orig/fpha/Subject_1/open_milk/1/skeleton.txt"
    lines = sk.read_text().splitlines()
    parts = lines[10].split()
    parts[4:7] = ["nan"] * 3
    lines[10] = " ".join(parts)
    sk.write_text("\n".join(lines) + "\n")
    good = _tiny_ghtt_ckpt(tmp_path / "ghtt.pt", joint_layout="canonical21")
    other_layout = _tiny_ghtt_ckpt(tmp_path / "ghtt_other.pt", joint_layout="mano16")
    res = run(root, ghtt=str(good), diffusion=str(other_layout), samples=3, stride_s=0.5)
    t = res["fpha_test"]
    assert t["sequences_found"] == 3 and t["missing_in_split_file"] == 1 and t["short_skipped"] == 1
    assert t["sequences_evaluated"] == 2 and t["windows"] > 0
    assert any("Subject_4/write/3" in n for n in res["notes"])
    assert any("'ghtt' checkpoint, not 'diffusion'" in e for e in res["errors"])
    for name in ("zero_velocity", "constant_velocity", "default", "ghtt_pa"):
        r = res["methods"][name]
        assert r["windows"] == t["windows"] and np.isfinite([r["ade_mean@0.5s"], r["ade_mean@1.0s"], r["fde_mean@1.0s"],
                                                              r["ade_min@1.0s"]]).all(), name
    with pytest.raises(CheckpointMismatch, match="joint layout 'mano16'"):
        check_checkpoint(other_layout, "ghtt")
    with pytest.raises(FileNotFoundError):
        check_checkpoint(tmp_path / "nope.pt", "ghtt")
    empty = run(tmp_path / "nothing")
    assert empty["fatal"] and "no official F-PHAB test-half sequence" in empty["errors"][-1]


def test_eval_cli_prints_json_last_line(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import eval_forecasting

    root = make_dataset(tmp_path / "data")
    rc = eval_forecasting.main(["--data", str(root), "--samples", "2", "--stride-s", "0.5", "--recognizer",
                                str(tmp_path / "missing.pt"), "--out", str(tmp_path / "rep")])
    out = capsys.readouterr()
    last = json.loads(out.out.strip().splitlines()[-1])
    assert rc == 0 and last["fpha_test"]["sequences_evaluated"] == 2
    assert {"ade_mean@0.5s", "ade_mean@1.0s", "fde_mean@1.0s", "ade_min@1.0s"} <= set(last["methods"]["default"])
    assert last["fpha_1to1_top1"] is None and "fpha_1to1_sequences" in last
    assert "error: --recognizer" in out.err and "Traceback" not in out.err
    assert (tmp_path / "rep" / "report.json").is_file()


def test_train_fpha_end_to_end_tiny(tmp_path):
    """Data -> checkpoint (with taxonomy/layout/licence fields) -> validation report -> model card."""
    import yaml

    from hand_training.forecasting.train_fpha import main

    root = make_dataset(tmp_path / "data")
    conf = {"kind": "diffusion",
            "model": {"d_model": 16, "heads": 2, "enc_layers": 1, "dec_layers": 1, "train_steps": 10, "sample_steps": 2,
                      "batch_size": 8},
            "data": {"root": str(root), "val_subjects": ["Subject_6"], "augment": {"copies": 1}},
            "train": {"seed": 0, "stride": 8, "epochs": 1, "max_steps": 3},
            "eval": {"stride_s": 0.5, "samples": 3}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["--config", str(cfg), "--out", str(out), "--no-export", "--no-progress"]) == 0
    state = torch.load(out / "diffusion_forecaster.pt", weights_only=True)
    assert state["kind"] == "diffusion" and state["joint_layout"] == "canonical21" and "research" in state["licence"]
    rep = json.loads((out / "report.json").read_text())
    assert "Subject_6" in rep["split"] and rep["methods"]["diffusion"]["windows"] == rep["methods"]["zero_velocity"]["windows"] > 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "never ship" in card and "Subject_6" in card and "| diffusion |" in card


def test_train_fpha_ghtt_calibrates_spread_and_eval_only(tmp_path):
    """G-HTT: P trained, the sampling scale chosen on the validation subject and saved; --eval-only
    reloads the checkpoint without training and keeps the calibrated scale."""
    import yaml

    from hand_training.forecasting.train_fpha import main

    root = make_dataset(tmp_path / "data")
    conf = {"kind": "ghtt", "model": {"d_model": 16, "heads": 2, "pose_layers": 1, "action_layers": 1, "object_layers": 1,
                                      "batch_size": 8},
            "data": {"root": str(root), "val_subjects": ["Subject_6"], "augment": None},
            "train": {"seed": 0, "stride": 8, "epochs_p": 1, "max_steps_p": 2},
            "eval": {"stride_s": 0.5, "samples": 4, "calibration_scales": [1.0, 40.0]}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["--config", str(cfg), "--out", str(out), "--no-export", "--no-progress"]) == 0
    rep = json.loads((out / "report.json").read_text())
    cal = rep["training"]["spread_calibration"]
    assert set(cal["scales"]) == {"1.0", "40.0"}
    assert torch.load(out / "ghtt.pt", weights_only=True)["config"]["sample_scale"] == cal["chosen"]
    (out / "report.json").unlink()
    assert main(["--config", str(cfg), "--out", str(out), "--no-export", "--no-progress", "--eval-only"]) == 0
    assert (out / "report.json").is_file() and "ghtt_pa" in json.loads((out / "report.json").read_text())["methods"]
    assert main(["--config", str(cfg), "--out", str(tmp_path / "empty"), "--eval-only"]) == 2


def test_diffusion_cumulative_palm_motion_round_trip_and_old_checkpoints():
    """cumulative_v: per-frame palm motions <-> poses relative to the last observed palm are exact
    inverses; zero motion is identity in both; checkpoints without the new buffers still load."""
    from hand_models.networks.diffusion_forecaster import DiffusionForecaster, DiffusionForecasterConfig
    from hand_models.networks.ghtt.representation import SL_V, encode, template_joints

    torch.manual_seed(0)
    small = dict(d_model=16, heads=2, enc_layers=1, dec_layers=1, horizon=30)
    m = DiffusionForecaster(DiffusionForecasterConfig(cumulative_v=True, **small))
    rng = np.random.default_rng(0)
    wins = []
    for k in range(8):
        t = np.arange(46)[:, None, None] / 30
        drift = np.concatenate([0.1 * np.sin(2 * t + k), 0.05 * np.cos(3 * t), 0.5 + 0.01 * k * t], -1)[:, None]
        j = np.stack([template_joints("left"), template_joints("right")])[None] + drift + rng.normal(size=(46, 2, 21, 3)) * 0.002
        wins.append(encode(j))
    f = torch.from_numpy(np.stack([e.features for e in wins])).float()
    mk = torch.from_numpy(np.stack([e.mask for e in wins]))
    m.normalizer.fit(f, mk)
    m.fit_cumulative(f[:, 16:], mk[:, 16:])
    xn = m.normalizer.norm(f[:, 16:]) * mk[:, 16:]
    xm, mm = m.to_model_space(xn, mk[:, 16:])
    assert torch.equal(xm[..., :126], xn[..., :126]) and mm.shape == mk[:, 16:].shape
    back = m.from_model_space(xm)
    for sl in SL_V:
        assert (back[..., sl] - xn[..., sl]).abs().max() < 1e-2
    flags = torch.from_numpy(np.stack([e.flags for e in wins])).float()
    loss = m.loss(m.normalizer.norm(f[:, :16]) * mk[:, :16], flags[:, :16], xn, mk[:, 16:])
    assert torch.isfinite(loss)
    old = DiffusionForecaster(DiffusionForecasterConfig(**small))
    sd = {k: v for k, v in old.state_dict().items() if not k.startswith("cum_")}
    DiffusionForecaster(DiffusionForecasterConfig(**small)).load_state_dict(sd)  # no missing-key error


def test_bench_forecaster_runs_a_checkpoint(tmp_path, capsys):
    """The node-rate benchmark drives the configured learned forecaster and reports its tick cost."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_forecaster

    ck = _tiny_ghtt_ckpt(tmp_path / "g.pt", joint_layout="canonical21")
    assert bench_forecaster.main(["--model", "ghtt_pa", "--checkpoint", str(ck), "--seconds", "1.5", "--samples", "4",
                                  "--data", str(tmp_path / "none")]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["forecaster"] == "LearnedMotionForecaster" and res["published"] >= 5
    assert res["tick_ms_mean"] > 0 and res["max_rate_hz_cpu_time"] > 0
    assert bench_forecaster.main(["--model", "ghtt_pa", "--checkpoint", str(tmp_path / "missing.pt"), "--seconds", "1"]) == 2
