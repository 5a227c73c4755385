"""G-HTT: generative hierarchical temporal transformer (pose block P, action block A, E^PO)."""

from .model import GHTT, ActionBlock, FeatureNormalizer, GHTTConfig, ObjectAggregator, PoseBlock
from .representation import FEATURE_DIM, NUM_FLAGS, EncodedMotion, decode, encode

__all__ = [
    "GHTT", "GHTTConfig", "PoseBlock", "ActionBlock", "ObjectAggregator", "FeatureNormalizer",
    "FEATURE_DIM", "NUM_FLAGS", "EncodedMotion", "encode", "decode",
]
