"""Rotated regions of interest for the hand landmark model, as MediaPipe computes them.

Re-implements, in image pixels, the ROI calculators of mediapipe 0.10.21 (options read from the
graphs in the wheel):

* ``PalmDetectionDetectionToRoi``: ``DetectionsToRectsCalculator`` (rotation from palm keypoint 0,
  the wrist centre, to keypoint 2, the middle-finger MCP, target angle 90 deg) followed by
  ``RectTransformationCalculator`` with scale 2.6, shift_y -0.5, square_long.
* ``HandLandmarkLandmarksToRoi``: ``HandLandmarksToRectCalculator`` (rotation from the wrist to the
  mean of the middle MCP and the mean of the index/ring MCPs; bounds of 12 palm/finger-base landmarks
  measured in the rotated frame) followed by ``RectTransformationCalculator`` with scale 2.0,
  shift_y -0.1, square_long.
* ``ImageToTensorCalculator`` (rotated crop), ``LandmarkProjectionCalculator`` (crop -> image) and
  ``WorldLandmarkProjectionCalculator`` (rotate world landmarks by the ROI rotation).

Coordinates: continuous pixel coordinates with the origin at the top-left *edge* of the image
(pixel ``k`` covers ``[k, k+1)``), which is what MediaPipe's normalised coordinates times the image
size give. ``rotation`` is in radians, positive clockwise on screen (image y axis points down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Landmarks used by HandLandmarksToRectCalculator (wrist, thumb CMC..IP, and the first two
#: joints of each finger), in our 21-joint order.
ROI_LANDMARKS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)


def normalize_radians(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


@dataclass
class RotatedRect:
    """A rotated rectangle in image pixels: centre, size and clockwise rotation (radians)."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def rotation_matrix(self) -> np.ndarray:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return np.array([[c, -s], [s, c]], dtype=np.float64)

    def corners(self) -> np.ndarray:
        """(4, 2) corners: top-left, top-right, bottom-right, bottom-left in the rect's frame."""
        hw, hh = self.width / 2.0, self.height / 2.0
        local = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        return local @ self.rotation_matrix().T + np.array([self.cx, self.cy])

    def aabb(self) -> np.ndarray:
        """Axis-aligned bounding box of the rotated rect, xyxy."""
        c = self.corners()
        return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])

    def unrotated_box(self) -> np.ndarray:
        """The rect with its rotation ignored, xyxy (what MediaPipe's association compares)."""
        return np.array(
            [self.cx - self.width / 2, self.cy - self.height / 2, self.cx + self.width / 2, self.cy + self.height / 2]
        )

    def is_valid(self) -> bool:
        vals = (self.cx, self.cy, self.width, self.height, self.rotation)
        return all(math.isfinite(v) for v in vals) and self.width > 1e-3 and self.height > 1e-3


def transform_rect(
    rect: RotatedRect,
    scale_x: float = 1.0,
    scale_y: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    square_long: bool = True,
) -> RotatedRect:
    """MediaPipe's ``RectTransformationCalculator`` in pixels.

    The shift is a fraction of the rect size along the rect's own (rotated) axes; square_long makes
    the rect square with the long side; then the size is scaled.
    """
    w, h, r = rect.width, rect.height, rect.rotation
    c, s = math.cos(r), math.sin(r)
    dx = w * shift_x * c - h * shift_y * s
    dy = w * shift_x * s + h * shift_y * c
    if square_long:
        w = h = max(w, h)
    return RotatedRect(rect.cx + dx, rect.cy + dy, w * scale_x, h * scale_y, r)


def rotation_from_points(x0: float, y0: float, x1: float, y1: float, target_angle: float = math.pi / 2) -> float:
    """Rotation that brings the vector p0 -> p1 to ``target_angle`` (MediaPipe's ComputeRotation)."""
    return normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))


def rect_from_palm(
    box_xyxy: np.ndarray,
    keypoints: np.ndarray,
    scale: float = 2.6,
    shift_y: float = -0.5,
) -> RotatedRect:
    """Hand ROI from one palm detection (box and 7 keypoints in image pixels)."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    rot = rotation_from_points(
        float(keypoints[0, 0]), float(keypoints[0, 1]), float(keypoints[2, 0]), float(keypoints[2, 1])
    )
    raw = RotatedRect((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rot)
    return transform_rect(raw, scale, scale, 0.0, shift_y, square_long=True)


def rect_from_landmarks(landmarks_px: np.ndarray, scale: float = 2.0, shift_y: float = -0.1) -> RotatedRect:
    """Hand ROI for the next frame from 21 landmarks in image pixels (HandLandmarkLandmarksToRoi)."""
    pts = np.asarray(landmarks_px, dtype=np.float64)[list(ROI_LANDMARKS), :2]
    # indices in the 12-landmark subset: 0 wrist, 4 index MCP, 6 middle MCP, 8 ring MCP
    x0, y0 = pts[0]
    x1 = ((pts[4, 0] + pts[8, 0]) / 2 + pts[6, 0]) / 2
    y1 = ((pts[4, 1] + pts[8, 1]) / 2 + pts[6, 1]) / 2
    rot = rotation_from_points(x0, y0, x1, y1)
    lo, hi = pts.min(0), pts.max(0)
    center_aa = (lo + hi) / 2
    c, s = math.cos(-rot), math.sin(-rot)
    rel = pts - center_aa
    proj = np.stack([rel[:, 0] * c - rel[:, 1] * s, rel[:, 0] * s + rel[:, 1] * c], axis=1)
    plo, phi = proj.min(0), proj.max(0)
    pc = (plo + phi) / 2
    cr, sr = math.cos(rot), math.sin(rot)
    cx = pc[0] * cr - pc[1] * sr + center_aa[0]
    cy = pc[0] * sr + pc[1] * cr + center_aa[1]
    raw = RotatedRect(float(cx), float(cy), float(phi[0] - plo[0]), float(phi[1] - plo[1]), rot)
    return transform_rect(raw, scale, scale, 0.0, shift_y, square_long=True)


def crop_matrix(rect: RotatedRect, out_w: int, out_h: int) -> np.ndarray:
    """2x3 affine matrix (OpenCV pixel-centre convention) mapping the image onto the crop.

    The crop's top-left corner is the rect's top-left corner in the rect's own frame, so a hand
    whose ROI has rotation ``r`` appears upright in the crop.
    """
    rt = rect.rotation_matrix().T
    sx, sy = out_w / rect.width, out_h / rect.height
    lin = np.diag([sx, sy]) @ rt
    t = -lin @ np.array([rect.cx, rect.cy]) + np.array([out_w / 2.0, out_h / 2.0])
    # edge coordinates -> OpenCV's pixel-centre coordinates on both sides
    t = t + lin @ np.array([0.5, 0.5]) - 0.5
    return np.hstack([lin, t[:, None]]).astype(np.float64)


def crop(
    image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int, border: str = "replicate"
) -> np.ndarray:
    """The rotated rect resampled (bilinear) to out_w x out_h; ``border`` is 'replicate' or 'zero'."""
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(
        image, crop_matrix(rect, out_w, out_h), (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=0
    )


def project_to_image(rect: RotatedRect, pts_norm: np.ndarray) -> np.ndarray:
    """Points normalised to the crop ([0, 1], edge coordinates) -> image pixels (LandmarkProjection)."""
    p = np.asarray(pts_norm, dtype=np.float64)[..., :2] - 0.5
    p = p * np.array([rect.width, rect.height])
    return p @ rect.rotation_matrix().T + np.array([rect.cx, rect.cy])


def rotate_world(rect: RotatedRect, world: np.ndarray) -> np.ndarray:
    """World landmarks (N, 3) rotated about z by the ROI rotation (WorldLandmarkProjection)."""
    w = np.asarray(world, dtype=np.float64).copy()
    w[:, :2] = w[:, :2] @ rect.rotation_matrix().T
    return w


def rect_iou(a: RotatedRect, b: RotatedRect) -> float:
    """IoU of the two rects with rotation ignored, as MediaPipe's AssociationNormRectCalculator."""
    ba, bb = a.unrotated_box(), b.unrotated_box()
    ix = max(0.0, min(ba[2], bb[2]) - max(ba[0], bb[0]))
    iy = max(0.0, min(ba[3], bb[3]) - max(ba[1], bb[1]))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return float(inter / union) if union > 0 else 0.0
