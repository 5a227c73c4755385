"""SSD anchors, box/keypoint decoding and weighted NMS for MediaPipe's palm detector.

A re-implementation of the post-processing of MediaPipe's ``PalmDetectionCpu`` graph
(mediapipe 0.10.21), with the calculator options read from the graph that ships in the wheel:

* ``SsdAnchorsCalculator``: 192x192 input, 4 layers, strides (8, 16, 16, 16), min/max scale
  0.1484375/0.75, anchor offset 0.5, aspect ratio 1.0 (+ one interpolated anchor per ratio),
  fixed anchor size -> 24*24*2 + 12*12*6 = 2016 anchors.
* ``TensorsToDetectionsCalculator``: 18 values per box (x, y, w, h offsets then 7 keypoints x, y),
  ``reverse_output_order`` (x before y), x/y/w/h scale 192, sigmoid score clipped at +-100,
  minimum score 0.5 (the tracker's ``min_detection_score``).
* ``NonMaxSuppressionCalculator``: IoU, threshold 0.3, WEIGHTED (score-weighted average of the
  boxes and keypoints of each cluster; the cluster keeps the top score).

Everything here is pure numpy and works on normalised coordinates of the detector input
(``[0, 1]``, origin at the top-left edge); callers map them to image pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Palm keypoints of the detector (indices into the 7 keypoints).
PALM_WRIST_CENTER = 0
PALM_INDEX_MCP = 1
PALM_MIDDLE_MCP = 2
PALM_RING_MCP = 3
PALM_PINKY_MCP = 4
PALM_THUMB_CMC = 5
PALM_THUMB_MCP = 6
NUM_PALM_KEYPOINTS = 7


@dataclass(frozen=True)
class SsdAnchorOptions:
    """Options of MediaPipe's ``SsdAnchorsCalculator`` (defaults: palm_detection_full)."""

    input_size_width: int = 192
    input_size_height: int = 192
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    num_layers: int = 4
    strides: tuple[int, ...] = (8, 16, 16, 16)
    aspect_ratios: tuple[float, ...] = (1.0,)
    fixed_anchor_size: bool = True
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False


def _calculate_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def generate_anchors(opts: SsdAnchorOptions = SsdAnchorOptions()) -> np.ndarray:
    """Anchors as an (N, 4) float32 array of (x_center, y_center, width, height), normalised.

    Same order as MediaPipe: per layer group, rows, columns, then anchors of that cell.
    """
    if len(opts.strides) != opts.num_layers:
        raise ValueError("strides must have num_layers entries")
    out: list[tuple[float, float, float, float]] = []
    layer_id = 0
    while layer_id < opts.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        ratios: list[float] = []
        scales: list[float] = []
        last = layer_id
        while last < opts.num_layers and opts.strides[last] == opts.strides[layer_id]:
            scale = _calculate_scale(opts.min_scale, opts.max_scale, last, opts.num_layers)
            if last == 0 and opts.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for r in opts.aspect_ratios:
                    ratios.append(r)
                    scales.append(scale)
                if opts.interpolated_scale_aspect_ratio > 0.0:
                    nxt = (
                        1.0
                        if last == opts.num_layers - 1
                        else _calculate_scale(opts.min_scale, opts.max_scale, last + 1, opts.num_layers)
                    )
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(opts.interpolated_scale_aspect_ratio)
            last += 1
        for r, s in zip(ratios, scales):
            rs = math.sqrt(r)
            heights.append(s / rs)
            widths.append(s * rs)
        stride = opts.strides[layer_id]
        fm_h = int(math.ceil(opts.input_size_height / stride))
        fm_w = int(math.ceil(opts.input_size_width / stride))
        for y in range(fm_h):
            for x in range(fm_w):
                for a in range(len(heights)):
                    xc = (x + opts.anchor_offset_x) / fm_w
                    yc = (y + opts.anchor_offset_y) / fm_h
                    if opts.fixed_anchor_size:
                        out.append((xc, yc, 1.0, 1.0))
                    else:
                        out.append((xc, yc, widths[a], heights[a]))
        layer_id = last
    return np.asarray(out, dtype=np.float32)


@dataclass
class RawDetections:
    """Decoded detections in normalised input coordinates.

    boxes (N, 4) xyxy; keypoints (N, 7, 2) xy; scores (N,).
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty(num_keypoints: int = NUM_PALM_KEYPOINTS) -> "RawDetections":
        return RawDetections(
            np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32), np.zeros(0, np.float32)
        )


@dataclass(frozen=True)
class DecodeOptions:
    """Options of MediaPipe's ``TensorsToDetectionsCalculator`` (defaults: palm detector)."""

    num_keypoints: int = NUM_PALM_KEYPOINTS
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    x_scale: float = 192.0
    y_scale: float = 192.0
    w_scale: float = 192.0
    h_scale: float = 192.0
    reverse_output_order: bool = True
    score_clipping_thresh: float = 100.0
    min_score_thresh: float = 0.5


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, opts: DecodeOptions = DecodeOptions()
) -> RawDetections:
    """Decode the (N, 18) box tensor and (N, 1) logit tensor against the anchors.

    Keeps the boxes whose sigmoid score is at least ``opts.min_score_thresh``.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float32).reshape(anchors.shape[0], -1)
    logits = np.asarray(raw_scores, dtype=np.float32).reshape(anchors.shape[0])
    logits = np.clip(logits, -opts.score_clipping_thresh, opts.score_clipping_thresh)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.nonzero(scores >= opts.min_score_thresh)[0]
    if keep.size == 0:
        return RawDetections.empty(opts.num_keypoints)
    rb = raw_boxes[keep]
    an = anchors[keep]
    o = opts.box_coord_offset
    if opts.reverse_output_order:
        xr, yr, wr, hr = rb[:, o], rb[:, o + 1], rb[:, o + 2], rb[:, o + 3]
    else:
        yr, xr, hr, wr = rb[:, o], rb[:, o + 1], rb[:, o + 2], rb[:, o + 3]
    xc = xr / opts.x_scale * an[:, 2] + an[:, 0]
    yc = yr / opts.y_scale * an[:, 3] + an[:, 1]
    w = wr / opts.w_scale * an[:, 2]
    h = hr / opts.h_scale * an[:, 3]
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    k0 = opts.keypoint_coord_offset
    kp = rb[:, k0 : k0 + 2 * opts.num_keypoints].reshape(-1, opts.num_keypoints, 2)
    if not opts.reverse_output_order:
        kp = kp[:, :, ::-1]
    kx = kp[:, :, 0] / opts.x_scale * an[:, 2:3] + an[:, 0:1]
    ky = kp[:, :, 1] / opts.y_scale * an[:, 3:4] + an[:, 1:2]
    keypoints = np.stack([kx, ky], axis=2)
    return RawDetections(boxes.astype(np.float32), keypoints.astype(np.float32), scores[keep].astype(np.float32))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box against (N, 4) xyxy boxes (0 where a union is empty)."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = max(float((box[2] - box[0]) * (box[3] - box[1])), 0.0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(dets: RawDetections, iou_threshold: float = 0.3, max_detections: int = -1) -> RawDetections:
    """MediaPipe's WEIGHTED non-maximum suppression.

    Detections are visited by decreasing score; each cluster (every remaining box with IoU above the
    threshold to the best one, the best one included) is replaced by the score-weighted mean of its
    boxes and keypoints and keeps the best score. Works in any coordinate frame that is a uniform
    scaling of the boxes (IoU is scale invariant), so it also merges boxes from several tiles once
    they are in image pixels.
    """
    n = len(dets)
    if n == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    remaining = order
    boxes_out: list[np.ndarray] = []
    kps_out: list[np.ndarray] = []
    scores_out: list[float] = []
    while remaining.size:
        best = remaining[0]
        ious = box_iou(dets.boxes[best], dets.boxes[remaining])
        members = remaining[ious > iou_threshold]
        if members.size == 0:  # degenerate best box (zero area): keep it alone
            members = remaining[:1]
        w = dets.scores[members].astype(np.float64)
        tot = w.sum()
        boxes_out.append((dets.boxes[members] * w[:, None]).sum(0) / tot)
        kps_out.append((dets.keypoints[members] * w[:, None, None]).sum(0) / tot)
        scores_out.append(float(dets.scores[best]))
        remaining = np.setdiff1d(remaining, members, assume_unique=True)
        # keep the score order (setdiff1d sorts by index)
        remaining = remaining[np.argsort(-dets.scores[remaining], kind="stable")]
        if 0 < max_detections <= len(scores_out):
            break
    return RawDetections(
        np.asarray(boxes_out, np.float32), np.asarray(kps_out, np.float32), np.asarray(scores_out, np.float32)
    )
