"""Joint orders used anywhere in hand_perception, in one place.

Every module that reorders joints imports its table from here.

Our order (``JOINT_NAMES``, 21 joints, same as MediaPipe and OpenPose):

    0 wrist; thumb 1-4 (CMC, MCP, IP, tip); index 5-8 (MCP, PIP, DIP, tip);
    middle 9-12; ring 13-16; pinky 17-20.

The MANO layer's native order (16 joints) is::

    0 wrist; index 1-3; middle 4-6; pinky 7-9; ring 10-12; thumb 13-15

with the five fingertips taken from mesh vertices (``MANO_FINGERTIP_VERTICES``).

Dataset tables are given as ``<DATASET>_TO_OURS``: an index array ``idx`` such that
``ours = dataset_joints[..., idx, :]`` (for two-hand datasets, per hand block of 21).
"""

from __future__ import annotations

from typing import Final

import numpy as np

NUM_JOINTS: Final = 21
NUM_MANO_JOINTS: Final = 16

FINGERS: Final = ("thumb", "index", "middle", "ring", "pinky")

JOINT_NAMES: Final = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)

#: Parent of each of our 21 joints (-1 for the wrist).
PARENTS: Final = np.array(
    [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19], dtype=np.int64
)

#: Bones as (parent, child) pairs, for drawing skeletons and bone-length checks.
BONES: Final = tuple((int(p), c) for c, p in enumerate(PARENTS) if p >= 0)

#: Joint indices of each finger, base to tip, in our order.
FINGER_JOINTS: Final = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}

TIP_JOINTS: Final = (4, 8, 12, 16, 20)
#: Wrist and the four finger MCPs: a nearly rigid set used to fix the palm frame.
PALM_JOINTS: Final = (0, 5, 9, 13, 17)

MANO_JOINT_NAMES: Final = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)

#: Kinematic parents of MANO's 16 native joints (the ``kintree_table[0]`` of the pkl, root = -1).
MANO_PARENTS: Final = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14], dtype=np.int64)

#: Fingertip vertices of the MANO mesh (thumb, index, middle, ring, pinky), as in smplx.
MANO_FINGERTIP_VERTICES: Final = {"thumb": 744, "index": 320, "middle": 443, "ring": 554, "pinky": 671}

#: ``ours = mano16_plus_tips[..., MANO_TO_OURS, :]`` where ``mano16_plus_tips`` is the
#: (…, 21, 3) stack of the 16 native joints followed by the tips (thumb, index, middle, ring, pinky).
MANO_TO_OURS: Final = np.array(
    [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20], dtype=np.int64
)

#: For each of MANO's 15 articulated joints (native 1..15), the index in our order of the joint
#: it rotates and of its child (used by the inverse kinematics to get bone directions).
MANO_JOINT_IN_OURS: Final = MANO_TO_OURS.argsort()[:16]

# --- public datasets -------------------------------------------------------------------------

#: FreiHAND, DexYCB, H2O, MediaPipe and OpenPose already use our order.
IDENTITY: Final = np.arange(21, dtype=np.int64)
FREIHAND_TO_OURS: Final = IDENTITY
DEXYCB_TO_OURS: Final = IDENTITY
H2O_TO_OURS: Final = IDENTITY
MEDIAPIPE_TO_OURS: Final = IDENTITY

#: RHD: wrist, then each finger tip -> MCP (thumb, index, middle, ring, pinky); left hand is
#: keypoints 0-20, right hand 21-41.
RHD_TO_OURS: Final = np.array(
    [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17], dtype=np.int64
)

#: InterHand2.6M: each finger tip -> base (thumb, index, middle, ring, pinky), wrist last;
#: right hand 0-20, left hand 21-41.
INTERHAND_TO_OURS: Final = np.array(
    [20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16], dtype=np.int64
)

#: AssemblyHands (Assembly101) follows the InterHand2.6M per-hand layout (42 keypoints,
#: right hand 0-20, left hand 21-41).
ASSEMBLYHANDS_TO_OURS: Final = INTERHAND_TO_OURS

#: FPHA (First-Person Hand Action): wrist, the five MCPs (T, I, M, R, P), then per finger
#: PIP, DIP, TIP.
FPHA_TO_OURS: Final = np.array(
    [0, 1, 6, 7, 8, 2, 9, 10, 11, 3, 12, 13, 14, 4, 15, 16, 17, 5, 18, 19, 20], dtype=np.int64
)

#: HO3D: MANO native order (16) followed by the tips in thumb, index, middle, ring, pinky order.
HO3D_TO_OURS: Final = MANO_TO_OURS

DATASET_TO_OURS: Final = {
    "ours": IDENTITY,
    "mediapipe": MEDIAPIPE_TO_OURS,
    "freihand": FREIHAND_TO_OURS,
    "dexycb": DEXYCB_TO_OURS,
    "h2o": H2O_TO_OURS,
    "rhd": RHD_TO_OURS,
    "interhand": INTERHAND_TO_OURS,
    "assemblyhands": ASSEMBLYHANDS_TO_OURS,
    "fpha": FPHA_TO_OURS,
    "ho3d": HO3D_TO_OURS,
    "mano": MANO_TO_OURS,
}


def to_ours(joints: np.ndarray, dataset: str) -> np.ndarray:
    """Reorder ``(..., 21, D)`` joints from ``dataset``'s order to ours.

    Raises ``KeyError`` naming the known datasets when ``dataset`` is unknown and
    ``ValueError`` when the joint axis is not 21 long.
    """
    key = dataset.lower()
    if key not in DATASET_TO_OURS:
        raise KeyError(f"unknown joint order {dataset!r}; known: {sorted(DATASET_TO_OURS)}")
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected joints shaped (..., 21, D), got {joints.shape}")
    return joints[..., DATASET_TO_OURS[key], :]


def from_ours(joints: np.ndarray, dataset: str) -> np.ndarray:
    """Inverse of :func:`to_ours`: reorder ``(..., 21, D)`` joints from our order to ``dataset``'s."""
    key = dataset.lower()
    if key not in DATASET_TO_OURS:
        raise KeyError(f"unknown joint order {dataset!r}; known: {sorted(DATASET_TO_OURS)}")
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected joints shaped (..., 21, D), got {joints.shape}")
    return joints[..., np.argsort(DATASET_TO_OURS[key]), :]
