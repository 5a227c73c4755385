"""Moved to :mod:`hand_perception.core.io.image_codec` (Image/CompressedImage/CameraInfo without cv_bridge).

This module keeps the old import path working for one release; import from
``hand_perception.core.io.image_codec`` in new code.
"""

from hand_perception.core.io.image_codec import *  # noqa: F401,F403
from hand_perception.core.io.image_codec import __all__  # noqa: F401
from hand_perception.core.io.image_codec import (  # noqa: F401
    _DIST_SIZES,
    _LAYOUTS,
    _Layout,
    _buffer,
    _compressed_target,
    _int_field,
    _layout,
    _scale16,
    camera_info_msg_to_intrinsics,
    compressed_to_rgb,
)
from hand_perception.core.types import CameraIntrinsics  # noqa: F401
