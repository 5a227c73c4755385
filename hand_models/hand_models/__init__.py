"""hand_models: the hand model (MANO layer and procedural MANO-format model), geometry, inverse
kinematics, networks, inference backends and export shared by hand_perception."""

__version__ = "0.1.0"
