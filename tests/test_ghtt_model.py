"""G-HTT pose block P, action block A, E^PO: shapes, losses, sampling, paths, recognition, training,
checkpoint/resume and ONNX export parity."""

import numpy as np
import pytest
import torch

from hand_models.networks.ghtt import losses as L
from hand_models.networks.ghtt.model import GHTT, GHTTConfig, PoseBlock
from hand_models.networks.ghtt.representation import FEATURE_DIM

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GHTT(GHTTConfig(dropout=0.0)).eval()


def test_configs_follow_the_paper():
    p = GHTTConfig.paper()
    assert (p.clip_len, p.max_clips, p.d_model, p.pose_layers, p.action_layers, p.object_layers) == (16, 16, 512, 9, 9, 2)
    assert (p.lr, p.weight_decay, p.batch_size, p.epochs_p, p.epochs_a) == (1e-4, 0.01, 256, 80, 200)
    assert (p.lambda_comp, p.lambda_trj, p.lambda_kl_p) == (1.0, 1.0, 1e-5)
    assert (p.lambda_mid, p.lambda_action, p.lambda_kl_a) == (1.0, 0.1, 1e-5)
    assert p.tau == 0.07 and p.sample_scale == 5.0 and p.num_samples == 20
    block = PoseBlock(p)
    assert len(block.encoder.layers) == 9 and len(block.decoder.layers) == 9
    assert block.mu_token.shape == (512,)


def test_pose_block_shapes_and_losses(model):
    x = torch.randn(3, 16, FEATURE_DIM)
    fl = torch.ones(3, 16, 5)
    out = model.pose(x, fl)
    assert out["mu"].shape == (3, model.cfg.d_model) and out["refined"].shape == (3, 16, FEATURE_DIM)
    assert out["future"].shape == (3, 16, FEATURE_DIM)
    gt = torch.randn(3, 32, FEATURE_DIM)
    mask = torch.ones_like(gt, dtype=torch.bool)
    ls = L.loss_pose_block(out, gt, mask, out["future"], gt[:, 16:], torch.ones(3, 16, 2, dtype=torch.bool), model.cfg)
    assert all(torch.isfinite(v) for v in ls.values())
    # masked entries do not count
    mask[:, :, :10] = False
    gt2 = gt.clone()
    gt2[:, :, :10] += 100
    a = L.loss_comp(out["refined"], out["future"], gt, mask)
    b = L.loss_comp(out["refined"], out["future"], gt2, mask)
    assert torch.allclose(a, b)


def test_sampling_scale_and_k_distinct_samples(model):
    x = torch.randn(1, 16, FEATURE_DIM)
    fl = torch.ones(1, 16, 5)
    torch.manual_seed(1)
    s5 = model.predict_pa(x, fl, num_samples=8, num_clips=2, sample_scale=5.0)
    torch.manual_seed(1)
    s0 = model.predict_pa(x, fl, num_samples=8, num_clips=2, sample_scale=0.0)
    assert s5.shape == (1, 8, 32, FEATURE_DIM)
    assert torch.allclose(s0[0, 0], s0[0, 1], atol=1e-5)      # no noise -> identical
    assert (s5[0, 0] - s5[0, 1]).abs().max() > 1e-3            # N(mu, 5 Sigma) -> distinct


def test_path_pb_and_recognition(model):
    cl = torch.randn(2, 3, 16, FEATURE_DIM)
    fl = torch.ones(2, 3, 16, 5)
    om = torch.randn(2, 3, model.cfg.text_dim)
    cm = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    model.set_taxonomy(["a", "b", "c"], torch.randn(3, model.cfg.text_dim))
    fut, mu_a = model.predict_pb(cl, fl, om, cm, num_samples=4, num_future_clips=3)
    assert fut.shape == (2, 4, 48, FEATURE_DIM) and mu_a.shape == (2, model.cfg.d_model)
    # recognition = nearest label embedding (cosine) to mu^A
    labels = model.action.label_embeddings(model.label_text)
    logits = model.recognize(cl, fl, om, cm)
    cos = torch.nn.functional.normalize(mu_a, dim=-1) @ torch.nn.functional.normalize(labels, dim=-1).T
    assert torch.equal(logits.argmax(-1), cos.argmax(-1))
    # padded clips do not change the encoding
    cl2 = cl.clone()
    cl2[0, 2] += 50
    assert torch.allclose(model.recognize(cl2, fl, om, cm)[0], logits[0], atol=1e-4)


def test_action_loss_prefers_the_true_label():
    emb = torch.eye(4) * 3
    alpha = emb[2:3] + 0.01
    good = L.loss_action(alpha, emb, torch.tensor([2]), 0.07)
    bad = L.loss_action(alpha, emb, torch.tensor([0]), 0.07)
    assert good < bad


def test_object_aggregator(model):
    om = model.objects(torch.randn(2, 16, model.cfg.text_dim), torch.ones(2, 16, dtype=torch.bool))
    assert om.shape == (2, model.cfg.text_dim)


def test_training_loops_learn_and_resume(tmp_path):
    from hand_training.datasets_motion.synthetic import generate_dataset
    from hand_training.forecasting.data import encode_sequences
    from hand_training.forecasting.train_ghtt import load_ghtt, save_ghtt, train_action_block, train_pose_block

    enc = encode_sequences(generate_dataset(16, seed=3), 30.0)
    cfg = GHTTConfig(d_model=32, heads=2, pose_layers=1, action_layers=1, object_layers=1, batch_size=16, lr=3e-3, dropout=0.0)
    m = GHTT(cfg)
    r = train_pose_block(m, enc, epochs=1, out=tmp_path, max_steps=12, progress=False)
    comp = [h["comp"] for h in r["history"]]
    assert np.mean(comp[-4:]) < np.mean(comp[:4]), comp
    assert (tmp_path / "pose_block.pt").exists()
    m2 = GHTT(cfg)
    r2 = train_pose_block(m2, enc, epochs=2, out=tmp_path, max_steps=14, progress=False)  # resumes at step 12
    assert r2["steps"] == 14
    labels = ["grab", "pinch", "swipe_left", "one", "two", "three", "four", "OK", "expand", "tap", "swipe_right",
              "swipe_V", "swipe_O", "wave", "reach forward", "pull back", "pour", "clap", "idle"]
    rng = np.random.default_rng(0)
    text = rng.normal(size=(len(labels), cfg.text_dim)).astype(np.float32)
    ra = train_action_block(m2, enc, labels, text, {"nothing": np.zeros(cfg.text_dim, np.float32)}, epochs=1,
                            max_steps=5, progress=False)
    assert np.isfinite(ra["last"]["total"])
    assert all(p.requires_grad for p in m2.pose.parameters())
    save_ghtt(tmp_path / "g.pt", m2)
    m3 = load_ghtt(tmp_path / "g.pt")
    assert m3.labels == labels
    for k, v in m2.state_dict().items():
        assert torch.equal(v, m3.state_dict()[k])


def test_onnx_export_parity(tmp_path, model):
    pytest.importorskip("onnxruntime")
    from hand_models.networks.ghtt.export import check_ghtt_parity, export_ghtt

    paths = export_ghtt(model, tmp_path)
    diffs = check_ghtt_parity(model, paths)
    assert set(diffs) == {"pose_encoder", "pose_decoder", "action_encoder", "action_decoder"}
    assert max(diffs.values()) < 1e-4, diffs
