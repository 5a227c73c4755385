"""MANO hand model: file loading (no chumpy), functional skinning, the layer, and our
procedural MANO-format model used when no licensed MANO files are configured."""

from hand_models.mano.layer import BimanualMano, ManoLayer, ManoOutput
from hand_models.mano.model_file import (
    ManoFileError,
    ManoModelData,
    load_mano_file,
    load_mano_model,
    resolve_model_dir,
)
from hand_models.mano.procedural import build_procedural_model, write_procedural_models

__all__ = [
    "BimanualMano", "ManoLayer", "ManoOutput", "ManoFileError", "ManoModelData", "load_mano_file",
    "load_mano_model", "resolve_model_dir", "build_procedural_model", "write_procedural_models",
]
