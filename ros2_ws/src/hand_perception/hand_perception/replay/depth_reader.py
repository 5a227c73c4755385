"""Depth for replay and ``hand-perception run``: depth topics of bags, depth folders and videos.

Every reader hands out depth as :func:`hand_perception.core.depth.prepare_depth` returns it:
``(metres (H, W) float32 with NaN where invalid, registered to the colour frame, None)`` or
``(None, reason)``; a frame without usable depth is processed monocular and the reason counted.

* :class:`BagDepthStream`: a depth topic (``sensor_msgs/Image`` 16UC1 / 32FC1) of a rosbag2,
  read alongside the image topic (a second reader, so nothing is held in memory beyond a few
  frames) and paired with each colour frame by the core rule :func:`~hand_perception.core.depth.pair_depth`
  (nearest stamp within ``max_age_s``), as the nodes pair them.
* :class:`DepthFiles`: a folder of depth images (16-bit PNG/TIFF in ``depth_scale`` units, or
  ``.npy`` float metres / uint16 units), one per colour frame in natural name order, or a 16-bit
  video (e.g. FFV1 gray16le), paired with the colour frames by index.
* :func:`write_depth_folder`: writes such a folder (16-bit PNG, millimetres).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hand_perception.core.conversions import RosbagsTypes, time_to_ns
from hand_perception.core.depth import DepthBuffer, DepthStatus, prepare_depth

DEPTH_IMAGE_TYPE = "sensor_msgs/msg/Image"
DEPTH_FILE_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


def _natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


class BagDepthStream:
    """Depth messages of ``topic`` in ``bag`` (a :class:`~hand_perception.replay.readers.BagMessages`),
    paired with colour stamps in increasing order (see the module docstring)."""

    def __init__(self, bag: Any, topic: str, types: RosbagsTypes, depth_scale: float = 0.001,
                 max_age_s: float = 0.02, status: DepthStatus | None = None) -> None:
        if topic not in bag.topics:
            raise ValueError(f"depth topic {topic!r} is not in {bag.path} (topics: {sorted(bag.topics)})")
        if bag.topics[topic][0] != DEPTH_IMAGE_TYPE:
            raise ValueError(f"depth topic {topic!r} has type {bag.topics[topic][0]}, expected {DEPTH_IMAGE_TYPE}")
        self.bag, self.topic, self.types = bag, topic, types
        self.depth_scale, self.max_age_s = float(depth_scale), float(max_age_s)
        self.status = status if status is not None else DepthStatus()
        self.status.enabled = True
        self.buffer = DepthBuffer(max_age_s=self.max_age_s, capacity=8)
        self._it: Iterator[Any] | None = None
        self._last_stamp: int | None = None
        self._done = False

    def _advance(self, until_ns: int) -> None:
        """Read depth messages until one is stamped after ``until_ns`` (or the topic ends)."""
        if self._it is None:
            self._it = self.bag.messages({self.topic})
        store = self.types.typestore
        while not self._done and (self._last_stamp is None or self._last_stamp <= until_ns):
            raw = next(self._it, None)
            if raw is None:
                self._done = True
                break
            try:
                msg = store.deserialize_cdr(raw.data, DEPTH_IMAGE_TYPE)
            except Exception as exc:  # noqa: BLE001 - truncated CDR and friends
                self.status.bad += 1
                self.status.last_problem = f"depth message at {raw.log_time_ns} does not deserialize: {exc}"
                continue
            stamp = time_to_ns(msg.header.stamp)
            self._last_stamp = stamp
            self.buffer.add(stamp, msg)

    def pair(self, stamp_ns: int, width: int, height: int) -> tuple[np.ndarray | None, str | None]:
        """Depth (metres, NaN invalid, ``height x width``) for the colour frame at ``stamp_ns``."""
        self._advance(int(stamp_ns) + int(self.max_age_s * 1e9))
        msg, problem = self.buffer.take(stamp_ns)
        if msg is None:
            self.status.missing += 1
            self.status.last_problem = problem or ""
            return None, problem
        depth, problem = prepare_depth(msg, width, height, self.depth_scale)
        if depth is None:
            self.status.bad += 1
            self.status.last_problem = problem or ""
            return None, problem
        self.status.paired += 1
        return depth, None


def read_depth_file(path: Path, depth_scale: float = 0.001) -> np.ndarray:
    """One depth file -> raw array (uint16 units or float metres). ValueError when it is not depth."""
    import cv2

    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError(f"cannot read depth image {path.name}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"{path.name} has {arr.shape[2] if arr.ndim == 3 else '?'} channels: not a depth image")
    if arr.dtype == np.uint8:
        raise ValueError(f"{path.name} is 8-bit: not a depth image (use 16-bit PNG in {depth_scale:g} m units or .npy metres)")
    return arr


class DepthFiles:
    """Depth frames of a folder or a 16-bit video, by colour frame index (see the module docstring)."""

    def __init__(self, path: str | Path, depth_scale: float = 0.001, status: DepthStatus | None = None) -> None:
        self.path = Path(path)
        self.depth_scale = float(depth_scale)
        self.status = status if status is not None else DepthStatus()
        self.status.enabled = True
        self.files: list[Path] = []
        self._cap = None
        self._next = 0
        if self.path.is_dir():
            self.files = sorted((p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in DEPTH_FILE_SUFFIXES),
                                key=lambda p: _natural_key(p.name))
            if not self.files:
                raise ValueError(f"no depth images ({', '.join(DEPTH_FILE_SUFFIXES)}) in {self.path}")
        elif self.path.is_file():
            import cv2

            self._cap = cv2.VideoCapture(str(self.path))
            if not self._cap.isOpened():
                raise ValueError(f"cannot open depth video {self.path}")
            self._cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        else:
            raise ValueError(f"depth source {self.path} does not exist")

    def __len__(self) -> int:
        return len(self.files)

    def _raw(self, index: int) -> np.ndarray | None:
        if self.files:
            if index >= len(self.files):
                return None
            return read_depth_file(self.files[index], self.depth_scale)
        if index < self._next:
            raise ValueError("a depth video is read in order only")
        frame = None
        while self._next <= index:
            ok, frame = self._cap.read()
            self._next += 1
            if not ok:
                return None
        if frame.dtype != np.uint16:
            raise ValueError(f"depth video {self.path.name} decodes to {frame.dtype}, not 16-bit depth "
                             "(write it losslessly as 16-bit gray, e.g. FFV1 gray16le)")
        return frame if frame.ndim == 2 else frame[..., 0]

    def get(self, index: int, width: int, height: int) -> tuple[np.ndarray | None, str | None]:
        """Depth (metres, NaN invalid) for colour frame ``index`` of size ``width x height``."""
        try:
            raw = self._raw(int(index))
        except ValueError as exc:
            self.status.bad += 1
            self.status.last_problem = str(exc)
            return None, str(exc)
        if raw is None:
            self.status.missing += 1
            self.status.last_problem = f"no depth frame {index} in {self.path}"
            return None, self.status.last_problem
        depth, problem = prepare_depth(raw, width, height, self.depth_scale)
        if depth is None:
            self.status.bad += 1
            self.status.last_problem = problem or ""
            return None, problem
        self.status.paired += 1
        return depth, None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def write_depth_folder(folder: str | Path, depths: list[np.ndarray] | Iterator[np.ndarray],
                       depth_scale: float = 0.001, prefix: str = "depth_") -> list[Path]:
    """Write depth images (metres, 0/NaN invalid) as 16-bit PNGs in ``depth_scale`` units."""
    import cv2

    from hand_perception.core.depth import encode_depth

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, d in enumerate(depths):
        fields = encode_depth(d, "16UC1", depth_scale)
        img = fields["data"].view("<u2").reshape(fields["height"], fields["width"])
        path = folder / f"{prefix}{i:06d}.png"
        if not cv2.imwrite(str(path), img):
            raise OSError(f"could not write {path}")
        out.append(path)
    return out


def write_depth_video(path: str | Path, depths: list[np.ndarray] | Iterator[np.ndarray], fps: float = 30.0,
                      depth_scale: float = 0.001) -> Path:
    """Write depth images (metres, 0/NaN invalid) as a lossless 16-bit gray video (FFV1 in .mkv,
    ``depth_scale`` units), which :class:`DepthFiles` reads back. Raises OSError when this OpenCV
    build cannot write 16-bit video."""
    import cv2

    from hand_perception.core.depth import encode_depth

    path = Path(path)
    writer = None
    try:
        for d in depths:
            fields = encode_depth(d, "16UC1", depth_scale)
            img = fields["data"].view("<u2").reshape(fields["height"], fields["width"])
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), float(fps),
                                         (img.shape[1], img.shape[0]),
                                         [cv2.VIDEOWRITER_PROP_DEPTH, cv2.CV_16U, cv2.VIDEOWRITER_PROP_IS_COLOR, 0])
                if not writer.isOpened():
                    raise OSError(f"this OpenCV build cannot write 16-bit video ({path})")
            writer.write(img)
    finally:
        if writer is not None:
            writer.release()
    return path
