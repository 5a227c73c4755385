"""Motion datasets for forecasting and action recognition: FPHA, SFINGE3D, H2O, AssemblyHands
(released layouts) and labelled synthetic motion; all as :class:`MotionSequence` (our 21 joints,
both hands, metres, NaN = missing)."""

from .common import MotionSequence, resample, split_verb_noun

__all__ = ["MotionSequence", "resample", "split_verb_noun"]
