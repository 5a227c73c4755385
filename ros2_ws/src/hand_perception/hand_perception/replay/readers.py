"""Frame sources for replay: rosbag2 (mcap, sqlite3), video files and image folders. No ROS.

:func:`open_source` picks the reader from the path and returns an iterable of
:class:`SourceFrame` (RGB uint8 image, stamp, frame_id, intrinsics) with a :class:`ReadReport`
that counts what could not be used. Nothing stops a replay except an input that cannot be
opened at all:

* **rosbag2** (a bag folder with ``metadata.yaml``, a bare ``.mcap`` or ``.db3``) through
  ``rosbags.highlevel.AnyReader``. Image topics of type ``sensor_msgs/msg/Image`` or
  ``sensor_msgs/msg/CompressedImage`` (JPEG/PNG); CameraInfo from ``--camera-info-topic`` or the
  ``camera_info`` next to the image topic. Messages that do not deserialize (truncated CDR) or
  decode (encoding/step/size mismatch, corrupt JPEG) are counted per reason and skipped; invalid
  CameraInfo is counted and the frames fall back to other CameraInfo or default intrinsics. A
  bag file that is itself truncated (a recorder that crashed) is read by tolerant fallbacks: MCAP
  records are scanned up to the break (complete messages of a cut chunk are kept), and a cut
  sqlite3 file is padded to its declared size on a temporary copy so the intact pages are read.
* **video** files through OpenCV; stamps ``start + i / fps`` (deterministic).
* **image folders** (``.png``, ``.jpg``, ...) in natural name order, stamps ``start + i / fps``;
  unreadable images are counted as bad frames.

CameraInfo pairing for bags: the CameraInfo messages are read first, then each image gets the
latest valid CameraInfo of its frame_id stamped at or before it (``cache``; the earliest one
when none precedes it) or the closest within ``slop_s`` (``sync``), the node's semantics made
independent of the order in which the recorder logged them.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import shutil
import sqlite3
import struct
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hand_perception.core.conversions import RosbagsTypes, time_to_ns
from hand_perception.core.depth import DepthStatus
from hand_perception.core.image_codec import (
    camera_info_msg_to_intrinsics,
    camera_info_to_intrinsics,
    compressed_to_rgb,
    decode_compressed_image,
    image_to_rgb,
    try_intrinsics_for_image,
)
from hand_perception.core.types import CameraIntrinsics

log = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
#: Default first stamp of video/folder sources: a fixed, realistic epoch time (2023-11-14), so
#: outputs are deterministic and TF consumers do not mistake stamp 0 for "latest".
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000
MAX_REPORTED_ERRORS = 50


@dataclass
class SourceFrame:
    """One input frame. ``image`` is RGB uint8 (H, W, 3), or None when the frame is bad
    (``error`` says why). ``index`` counts image messages/frames from 0 (bad ones included);
    ``name`` is the file name for image folders."""

    index: int
    stamp_ns: int
    frame_id: str
    image: np.ndarray | None
    intrinsics: CameraIntrinsics | None
    error: str | None = None
    name: str = ""
    topic: str = ""
    warnings: list[str] = field(default_factory=list)
    #: (H, W) float32 metres registered to ``image`` (NaN invalid) when a depth source is read
    depth: np.ndarray | None = None


@dataclass
class ReadReport:
    """What a source read and what it could not use (``bad`` counts per reason)."""

    source: str = ""
    kind: str = ""
    image_topic: str = ""
    camera_info_topic: str = ""
    frames: int = 0
    good_frames: int = 0
    bad: Counter = field(default_factory=Counter)
    camera_info_messages: int = 0
    camera_info_invalid: int = 0
    frames_without_camera_info: int = 0
    truncated: bool = False
    recovery: str = ""
    errors: list[str] = field(default_factory=list)
    depth: DepthStatus = field(default_factory=DepthStatus)

    def add_error(self, kind: str, message: str) -> None:
        self.bad[kind] += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"{kind}: {message}")

    @property
    def bad_frames(self) -> int:
        return self.frames - self.good_frames

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "image_topic": self.image_topic,
            "camera_info_topic": self.camera_info_topic,
            "frames": self.frames,
            "good_frames": self.good_frames,
            "bad_frames": self.bad_frames,
            "bad_by_reason": dict(sorted(self.bad.items())),
            "camera_info_messages": self.camera_info_messages,
            "camera_info_invalid": self.camera_info_invalid,
            "frames_without_camera_info": self.frames_without_camera_info,
            "truncated": self.truncated,
            "recovery": self.recovery,
            "errors": list(self.errors),
            **self.depth.as_dict(),
        }


# =========================================================================== intrinsics files


def parse_intrinsics(spec: str | os.PathLike | None, width: int = 0, height: int = 0) -> CameraIntrinsics | None:
    """Intrinsics from ``"fx,fy,cx,cy"``, a camera_calibration YAML (``camera_matrix``,
    ``distortion_coefficients``, ``distortion_model``, ``image_width``/``image_height``), a
    CameraInfo-like YAML/JSON (``k``/``K``, ``d``/``dist``, ``width``, ``height``), or None."""
    if spec is None or str(spec) == "":
        return None
    text = str(spec)
    if not os.path.exists(text) and re.fullmatch(r"\s*[-+0-9.eE]+(\s*,\s*[-+0-9.eE]+){3}\s*", text):
        fx, fy, cx, cy = (float(v) for v in text.split(","))
        k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        return camera_info_to_intrinsics(k, [], width, height, "plumb_bob")
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"intrinsics {text!r}: neither 'fx,fy,cx,cy' nor an existing file")
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    if not isinstance(data, dict):
        raise ValueError(f"{path}: intrinsics file must be a mapping")

    def matrix(value: Any) -> list[float]:
        if isinstance(value, dict) and "data" in value:
            value = value["data"]
        return np.asarray(value, dtype=np.float64).reshape(-1).tolist()

    k = data.get("camera_matrix", data.get("k", data.get("K")))
    if k is None:
        raise ValueError(f"{path}: no camera_matrix / k / K")
    d = data.get("distortion_coefficients", data.get("d", data.get("dist", data.get("D", []))))
    model = data.get("distortion_model", "plumb_bob")
    w = int(data.get("image_width", data.get("width", width)) or 0)
    h = int(data.get("image_height", data.get("height", height)) or 0)
    try:
        return camera_info_to_intrinsics(matrix(k), matrix(d) if d is not None else [], w, h, model)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


# =========================================================================== raw bag messages


@dataclass
class RawMessage:
    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes | memoryview


def _bag_files(path: Path) -> tuple[str, list[Path]]:
    """('mcap' | 'sqlite3', files) of a bag folder or a bare bag file."""
    if path.is_file():
        if path.suffix == ".mcap":
            return "mcap", [path]
        if path.suffix == ".db3":
            return "sqlite3", [path]
        raise ValueError(f"{path}: not a rosbag2 file (.mcap or .db3)")
    mcaps = sorted(path.glob("*.mcap"))
    dbs = sorted(path.glob("*.db3"))
    if mcaps:
        return "mcap", mcaps
    if dbs:
        return "sqlite3", dbs
    raise ValueError(f"{path}: no .mcap or .db3 files")


def is_bag(path: str | os.PathLike) -> bool:
    p = Path(path)
    if p.is_file():
        return p.suffix in (".mcap", ".db3")
    return p.is_dir() and ((p / "metadata.yaml").is_file() or any(p.glob("*.mcap")) or any(p.glob("*.db3")))


class BagMessages:
    """Raw messages of a rosbag2 with topics and counts; tolerant of truncated files.

    ``topics`` maps topic -> (msgtype, message count or -1 when unknown). ``messages(topics)``
    yields :class:`RawMessage` in log-time order (file order for the recovery readers).
    """

    def __init__(self, path: str | os.PathLike, report: ReadReport | None = None,
                 types: RosbagsTypes | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"{self.path} does not exist")
        self.report = report if report is not None else ReadReport(source=str(path), kind="rosbag2")
        self.types = types or RosbagsTypes()
        self.storage, self.files = _bag_files(self.path)
        self.recovery: str = ""
        self.topics: dict[str, tuple[str, int]] = {}
        self._open_error: str | None = None
        try:
            from rosbags.highlevel import AnyReader

            with AnyReader([self.path], default_typestore=self.types.typestore) as reader:
                for c in reader.connections:
                    old = self.topics.get(c.topic, (c.msgtype, 0))
                    self.topics[c.topic] = (c.msgtype, old[1] + int(getattr(c, "msgcount", 0) or 0))
        except Exception as exc:  # noqa: BLE001 - any reader failure: try the recovery readers
            self._open_error = f"{type(exc).__name__}: {exc}"
            self.recovery = "mcap record scan" if self.storage == "mcap" else "sqlite3 page recovery"
            self.report.truncated = True
            self.report.recovery = f"{self.recovery} (rosbags could not open the bag: {self._open_error})"
            log.warning("%s: %s; reading what is left with %s", self.path, self._open_error, self.recovery)
            self.topics = self._recovery_topics()
            if not self.topics:
                raise ValueError(f"cannot read {self.path}: {self._open_error}; nothing recoverable") from exc

    # -- normal path -------------------------------------------------------------------------
    def messages(self, topics: set[str] | None = None) -> Iterator[RawMessage]:
        if self.recovery:
            yield from self._recovery_messages(topics)
            return
        from rosbags.highlevel import AnyReader

        count = 0
        try:
            with AnyReader([self.path], default_typestore=self.types.typestore) as reader:
                conns = [c for c in reader.connections if topics is None or c.topic in topics]
                for conn, timestamp, raw in reader.messages(connections=conns):
                    count += 1
                    yield RawMessage(conn.topic, conn.msgtype, int(timestamp), raw)
        except GeneratorExit:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged chunk: report and stop here
            self.report.truncated = True
            self.report.add_error("bag_read", f"reading stopped after {count} messages: {type(exc).__name__}: {exc}")
            log.warning("%s: reading stopped after %d messages: %s", self.path, count, exc)

    # -- recovery ----------------------------------------------------------------------------
    def _recovery_topics(self) -> dict[str, tuple[str, int]]:
        counts: dict[str, list] = {}
        for msg in self._recovery_messages(None, count_only=True):
            entry = counts.setdefault(msg.topic, [msg.msgtype, 0])
            entry[1] += 1
        return {t: (v[0], v[1]) for t, v in counts.items()}

    def _recovery_messages(self, topics: set[str] | None, count_only: bool = False) -> Iterator[RawMessage]:
        for file in self.files:
            if self.storage == "mcap":
                it = _scan_mcap(file, self.report, quiet=count_only)
            else:
                it = _scan_sqlite(file, self.report, quiet=count_only)
            for msg in it:
                if topics is None or msg.topic in topics:
                    yield msg


# -- MCAP record scanner ---------------------------------------------------------------------

_MCAP_MAGIC = b"\x89MCAP0\r\n"


class _Buf:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise EOFError
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack_from("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack_from("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack_from("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode("utf-8", "replace")


def _decompress_partial(data: bytes, compression: str) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        out = []
        dobj = zstandard.ZstdDecompressor().decompressobj()
        try:
            out.append(dobj.decompress(data))
        except zstandard.ZstdError:
            pass
        return b"".join(out)
    if compression == "lz4":
        import lz4.frame

        try:
            return lz4.frame.decompress(data)
        except RuntimeError:
            return b""
    return b""


def _parse_records(buf: _Buf, schemas: dict[int, str], channels: dict[int, tuple[str, str]],
                   report: ReadReport, quiet: bool, nested: bool) -> Iterator[RawMessage]:
    """Records of an MCAP data section (or of a chunk's payload when ``nested``)."""
    while buf.left() > 0:
        start = buf.pos
        try:
            if buf.left() < 9:
                raise EOFError
            opcode = buf.take(1)[0]
            length = buf.u64()
            complete = length <= buf.left()
            body = buf.take(length) if complete else buf.take(buf.left())
        except EOFError:
            break
        rec = _Buf(body)
        try:
            if opcode == 0x03:  # Schema
                sid = rec.u16()
                name = rec.string()
                schemas[sid] = name
            elif opcode == 0x04:  # Channel
                cid = rec.u16()
                sid = rec.u16()
                topic = rec.string()
                channels[cid] = (topic, schemas.get(sid, ""))
            elif opcode == 0x05:  # Message
                if not complete:
                    if not quiet:
                        report.add_error("truncated_message", f"message cut at byte {start} of the file section")
                    break
                cid = rec.u16()
                rec.u32()
                log_time = rec.u64()
                rec.u64()
                topic, msgtype = channels.get(cid, ("", ""))
                if topic:
                    yield RawMessage(topic, msgtype, log_time, bytes(rec.take(rec.left())))
            elif opcode == 0x06 and not nested:  # Chunk
                rec.u64()
                rec.u64()
                rec.u64()
                rec.u32()
                compression = rec.string()
                size = rec.u64()
                payload = bytes(rec.take(min(size, rec.left())))
                inner = _decompress_partial(payload, compression)
                yield from _parse_records(_Buf(inner), schemas, channels, report, quiet, nested=True)
                if not complete:
                    break
            elif opcode == 0x0F:  # DataEnd: summary follows
                break
        except EOFError:
            if not quiet:
                report.add_error("truncated_record", f"record 0x{opcode:02x} cut at byte {start}")
            break


def _scan_mcap(file: Path, report: ReadReport, quiet: bool = False) -> Iterator[RawMessage]:
    data = file.read_bytes()
    if not data.startswith(_MCAP_MAGIC):
        if not quiet:
            report.add_error("bag_read", f"{file.name}: not an MCAP file")
        return
    buf = _Buf(data)
    buf.take(len(_MCAP_MAGIC))
    yield from _parse_records(buf, {}, {}, report, quiet, nested=False)


# -- sqlite3 recovery ------------------------------------------------------------------------


def _scan_sqlite(file: Path, report: ReadReport, quiet: bool = False) -> Iterator[RawMessage]:
    """Rows of a damaged rosbag2 sqlite3 file: the file is copied, padded with zeros to the size
    its header declares, and each message row is read on its own (unreadable rows are counted)."""
    tmpdir = tempfile.mkdtemp(prefix="hand_perception_bag_")
    try:
        copy = Path(tmpdir) / file.name
        shutil.copyfile(file, copy)
        with open(copy, "rb") as fh:
            header = fh.read(100)
        if len(header) == 100 and header.startswith(b"SQLite format 3\x00"):
            page = struct.unpack(">H", header[16:18])[0]
            page = 65536 if page == 1 else page
            pages = struct.unpack(">I", header[28:32])[0]
            if page * pages > copy.stat().st_size:
                with open(copy, "r+b") as fh:
                    fh.truncate(page * pages)
        con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            topics = {int(r[0]): (str(r[1]), str(r[2])) for r in con.execute("SELECT id, name, type FROM topics")}
        except sqlite3.DatabaseError as exc:
            if not quiet:
                report.add_error("bag_read", f"{file.name}: topics table unreadable ({exc})")
            return
        try:
            ids = [int(r[0]) for r in con.execute("SELECT id FROM messages ORDER BY id")]
        except sqlite3.DatabaseError:
            ids = []
            misses, i = 0, 1
            while misses < 1000:
                try:
                    row = con.execute("SELECT id FROM messages WHERE id=?", (i,)).fetchone()
                except sqlite3.DatabaseError:
                    row = None
                if row is None:
                    misses += 1
                else:
                    misses = 0
                    ids.append(i)
                i += 1
            if not ids:  # the id index itself is gone: try the rows we know must exist
                ids = list(range(1, i))
        for i in ids:
            try:
                row = con.execute("SELECT topic_id, timestamp, data FROM messages WHERE id=?", (i,)).fetchone()
            except sqlite3.DatabaseError as exc:
                if not quiet:
                    report.add_error("unreadable_row", f"{file.name} row {i}: {exc}")
                continue
            if row is None or row[0] not in topics:
                continue
            topic, msgtype = topics[row[0]]
            yield RawMessage(topic, msgtype, int(row[1]), bytes(row[2] or b""))
        con.close()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# =========================================================================== frame sources


class FrameSource:
    """Iterable of :class:`SourceFrame`; ``report`` fills while iterating; ``len()`` is the
    expected number of frames (for progress bars; 0 when unknown)."""

    report: ReadReport
    kind = "source"

    def __iter__(self) -> Iterator[SourceFrame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return 0


@dataclass
class _InfoEntry:
    stamp_ns: int
    intrinsics: CameraIntrinsics | None
    error: str | None


class BagSource(FrameSource):
    """Frames of one image topic of a rosbag2 (raw or compressed) with their CameraInfo."""

    kind = "rosbag2"

    def __init__(self, path: str | os.PathLike, image_topic: str | None = None,
                 camera_info_topic: str | None = None, intrinsics: CameraIntrinsics | None = None,
                 camera_info_mode: str = "cache", slop_s: float = 0.02, use_projection: bool = False,
                 mono16_max: float | None = None, types: RosbagsTypes | None = None,
                 depth_topic: str | None = None, depth_scale: float = 0.001, depth_max_age_s: float = 0.02) -> None:
        self.report = ReadReport(source=str(path), kind=self.kind)
        self.types = types or RosbagsTypes()
        self.bag = BagMessages(path, self.report, self.types)
        self.fixed_intrinsics = intrinsics
        if camera_info_mode not in ("cache", "sync"):
            raise ValueError(f"camera_info_mode must be 'cache' or 'sync', got {camera_info_mode!r}")
        self.camera_info_mode = camera_info_mode
        self.slop_ns = int(round(slop_s * 1e9))
        self.use_projection = use_projection
        self.mono16_max = mono16_max
        self.depth_topic = depth_topic or None
        self.image_topic, self.image_type = self._pick_image_topic(image_topic)
        self.camera_info_topic = self._pick_info_topic(camera_info_topic)
        self.report.image_topic = self.image_topic
        self.report.camera_info_topic = self.camera_info_topic or ""
        self.depth_stream = None
        if self.depth_topic:  # registered depth, paired by stamp (replay/depth_reader.py)
            from hand_perception.replay.depth_reader import BagDepthStream

            self.depth_stream = BagDepthStream(self.bag, self.depth_topic, self.types, depth_scale, depth_max_age_s,
                                               self.report.depth)

    def _pick_image_topic(self, wanted: str | None) -> tuple[str, str]:
        topics = self.bag.topics
        images = {t: ty for t, (ty, _) in topics.items() if ty in (IMAGE_TYPE, COMPRESSED_TYPE)}
        if wanted:
            if wanted not in topics:
                raise ValueError(f"topic {wanted!r} is not in {self.bag.path}; image topics: {sorted(images) or 'none'}")
            if topics[wanted][0] not in (IMAGE_TYPE, COMPRESSED_TYPE):
                raise ValueError(f"topic {wanted!r} has type {topics[wanted][0]}, not Image/CompressedImage")
            return wanted, topics[wanted][0]
        # depth images are not colour images: the depth topic, else (when ambiguous) topics named *depth*
        images = {t: ty for t, ty in images.items() if t != self.depth_topic}
        if len(images) > 1 and any("depth" not in t for t in images):
            images = {t: ty for t, ty in images.items() if "depth" not in t}
        raw = sorted(t for t, ty in images.items() if ty == IMAGE_TYPE)
        comp = sorted(t for t, ty in images.items() if ty == COMPRESSED_TYPE)
        if len(raw) == 1:
            return raw[0], IMAGE_TYPE
        if not raw and len(comp) == 1:
            return comp[0], COMPRESSED_TYPE
        if not images:
            raise ValueError(f"{self.bag.path} has no Image or CompressedImage topic (topics: {sorted(topics)})")
        raise ValueError(f"{self.bag.path} has several image topics {sorted(images)}: choose one with --image-topic")

    def _pick_info_topic(self, wanted: str | None) -> str | None:
        topics = self.bag.topics
        infos = sorted(t for t, (ty, _) in topics.items() if ty == CAMERA_INFO_TYPE)
        if wanted:
            if wanted not in topics:
                raise ValueError(f"camera info topic {wanted!r} is not in the bag; CameraInfo topics: {infos or 'none'}")
            return wanted
        base = self.image_topic
        if base.endswith("/compressed"):
            base = base[: -len("/compressed")]
        sibling = base.rsplit("/", 1)[0] + "/camera_info"
        if sibling in infos:
            return sibling
        if len(infos) == 1:
            return infos[0]
        return None

    def __len__(self) -> int:
        return max(0, self.bag.topics.get(self.image_topic, ("", 0))[1])

    def _camera_infos(self) -> dict[str, list[_InfoEntry]]:
        infos: dict[str, list[_InfoEntry]] = {}
        if not self.camera_info_topic:
            return infos
        store = self.types.typestore
        for raw in self.bag.messages({self.camera_info_topic}):
            self.report.camera_info_messages += 1
            try:
                msg = store.deserialize_cdr(raw.data, CAMERA_INFO_TYPE)
            except Exception as exc:  # noqa: BLE001 - truncated CDR and friends
                self.report.camera_info_invalid += 1
                self.report.add_error("camera_info_deserialize", f"at {raw.log_time_ns}: {type(exc).__name__}: {exc}")
                continue
            stamp = time_to_ns(msg.header.stamp)
            try:
                entry = _InfoEntry(stamp, camera_info_msg_to_intrinsics(msg, self.use_projection), None)
            except (ValueError, TypeError) as exc:
                self.report.camera_info_invalid += 1
                self.report.add_error("camera_info_invalid", f"at {stamp}: {exc}")
                entry = _InfoEntry(stamp, None, str(exc))
            infos.setdefault(str(msg.header.frame_id), []).append(entry)
        for entries in infos.values():
            entries.sort(key=lambda e: e.stamp_ns)
        return infos

    def _pair(self, infos: dict[str, list[_InfoEntry]], stamp_ns: int, frame_id: str) -> tuple[CameraIntrinsics | None, str | None]:
        entries = infos.get(frame_id)
        note = None
        if not entries:
            if len(infos) == 1:
                other, entries = next(iter(infos.items()))
                note = f"camera_info frame_id {other!r} differs from the image's {frame_id!r}"
            else:
                return None, "no camera_info" if not infos else f"no camera_info for frame_id {frame_id!r}"
        valid = [e for e in entries if e.intrinsics is not None]
        if not valid:
            return None, entries[-1].error or "invalid camera_info"
        if self.camera_info_mode == "sync":
            best = min(valid, key=lambda e: abs(e.stamp_ns - stamp_ns))
            if abs(best.stamp_ns - stamp_ns) > self.slop_ns:
                return None, f"no camera_info within {self.slop_ns / 1e9:g} s"
            return best.intrinsics, note
        stamps = [e.stamp_ns for e in valid]
        i = bisect.bisect_right(stamps, stamp_ns) - 1
        return valid[max(i, 0)].intrinsics, note

    def __iter__(self) -> Iterator[SourceFrame]:
        infos = self._camera_infos()
        store = self.types.typestore
        index = 0
        for raw in self.bag.messages({self.image_topic}):
            self.report.frames += 1
            i = index
            index += 1
            try:
                msg = store.deserialize_cdr(raw.data, self.image_type)
            except Exception as exc:  # noqa: BLE001 - truncated CDR and friends
                self.report.add_error("deserialize", f"message {i} at {raw.log_time_ns}: {type(exc).__name__}: {exc}")
                yield SourceFrame(i, raw.log_time_ns, "", None, None, error=f"cannot deserialize: {exc}", topic=self.image_topic)
                continue
            stamp = time_to_ns(msg.header.stamp)
            frame_id = str(msg.header.frame_id) or "camera"
            try:
                image = compressed_to_rgb(msg) if self.image_type == COMPRESSED_TYPE else image_to_rgb(msg, self.mono16_max)
            except ValueError as exc:
                self.report.add_error("decode", f"message {i} stamp {stamp}: {exc}")
                yield SourceFrame(i, stamp, frame_id, None, None, error=str(exc), topic=self.image_topic)
                continue
            warnings: list[str] = []
            if self.fixed_intrinsics is not None:
                intr, problem = self.fixed_intrinsics, None
            else:
                intr, problem = self._pair(infos, stamp, frame_id)
            if intr is not None:
                intr, note = try_intrinsics_for_image(intr, image.shape[1], image.shape[0])
                if intr is None:
                    problem = note
                elif note:
                    warnings.append(note)
            if intr is None:
                self.report.frames_without_camera_info += 1
                warnings.append(f"{problem}: default intrinsics")
            elif problem:
                warnings.append(problem)
            self.report.good_frames += 1
            depth = None
            if self.depth_stream is not None:
                depth, problem = self.depth_stream.pair(stamp, image.shape[1], image.shape[0])
                if depth is None:
                    warnings.append(f"no depth ({problem}): monocular")
            yield SourceFrame(i, stamp, frame_id, image, intr, topic=self.image_topic, warnings=warnings, depth=depth)


def _frame_intrinsics(intrinsics: CameraIntrinsics | None, rgb: np.ndarray,
                      report: ReadReport) -> tuple[CameraIntrinsics | None, list[str]]:
    """Intrinsics fitted to this frame's size (with notes), counting frames left without any."""
    warnings: list[str] = []
    if intrinsics is not None:
        intrinsics, note = try_intrinsics_for_image(intrinsics, rgb.shape[1], rgb.shape[0])
        if note:
            warnings.append(note)
    if intrinsics is None:
        report.frames_without_camera_info += 1
    return intrinsics, warnings


class VideoSource(FrameSource):
    """Frames of a video file (OpenCV); stamps ``start_ns + round(i * 1e9 / fps)``."""

    kind = "video"

    def __init__(self, path: str | os.PathLike, intrinsics: CameraIntrinsics | None = None,
                 fps: float | None = None, start_ns: int = DEFAULT_START_NS, frame_id: str = "camera") -> None:
        import cv2

        self.path = str(path)
        self.report = ReadReport(source=self.path, kind=self.kind)
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise ValueError(f"cannot open video {self.path}")
        self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        self.fps = float(fps) if fps else (native if native > 0 and np.isfinite(native) else 30.0)
        self.start_ns = int(start_ns)
        self.intrinsics = intrinsics
        self.frame_id = frame_id

    def __len__(self) -> int:
        return max(0, self._count)

    def __iter__(self) -> Iterator[SourceFrame]:
        import cv2

        cap = cv2.VideoCapture(self.path)
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    if self._count and i < self._count:
                        self.report.truncated = True
                        self.report.add_error("video_read", f"decoding stopped at frame {i} of {self._count}")
                    break
                self.report.frames += 1
                self.report.good_frames += 1
                rgb = np.ascontiguousarray(bgr[..., ::-1])
                intr, warnings = _frame_intrinsics(self.intrinsics, rgb, self.report)
                stamp = self.start_ns + int(round(i * 1e9 / self.fps))
                yield SourceFrame(i, stamp, self.frame_id, rgb, intr, name=f"frame_{i:06d}", warnings=warnings)
                i += 1
        finally:
            cap.release()


def _renderer_camera(path: Path, intrinsics: CameraIntrinsics | None) -> tuple[CameraIntrinsics | None, float | None]:
    """Intrinsics (unless given) and fps from a ground_truth.json (hand_models.render format)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return intrinsics, None
    if not isinstance(data, dict):
        return intrinsics, None
    fps = data.get("fps")
    cam = data.get("camera") or {}
    if intrinsics is None and "K" in cam:
        try:
            intrinsics = camera_info_to_intrinsics(np.asarray(cam["K"], dtype=np.float64).reshape(-1),
                                                   cam.get("dist") or [], int(data.get("width", 0) or 0),
                                                   int(data.get("height", 0) or 0), "plumb_bob")
        except ValueError as exc:
            log.warning("%s: camera ignored (%s)", path, exc)
    return intrinsics, (float(fps) if fps else None)


def _decode_file(data: np.ndarray) -> np.ndarray:
    """RGB uint8 of an image file's bytes. JPEG and PNG go through the checked decoder (truncated
    files are rejected before OpenCV sees them); other formats straight to cv2.imdecode."""
    import cv2

    head = data[:8].tobytes()
    if head[:2] == b"\xff\xd8" or head == b"\x89PNG\r\n\x1a\n":
        return decode_compressed_image("", data)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError("unreadable image")
    return np.ascontiguousarray(image[..., ::-1])


def _natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


class FolderSource(FrameSource):
    """Images of a folder in natural name order; stamps ``start_ns + round(i * 1e9 / fps)``.

    A ``camera_info.yaml`` (or ``camera.yaml``/``intrinsics.json``) in the folder is used when no
    intrinsics are given.
    """

    kind = "images"

    def __init__(self, path: str | os.PathLike, intrinsics: CameraIntrinsics | None = None,
                 fps: float | None = None, start_ns: int = DEFAULT_START_NS, frame_id: str = "camera") -> None:
        self.path = Path(path)
        self.report = ReadReport(source=str(path), kind=self.kind)
        self.files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                            key=lambda p: _natural_key(p.name))
        if not self.files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.path}")
        gt_fps = None
        if intrinsics is None:
            for name in ("camera_info.yaml", "camera.yaml", "intrinsics.yaml", "intrinsics.json"):
                if (self.path / name).is_file():
                    intrinsics = parse_intrinsics(self.path / name)
                    break
        gt_file = self.path / "ground_truth.json"
        if gt_file.is_file():  # the synthetic renderer's folder: its camera and frame rate
            intrinsics, gt_fps = _renderer_camera(gt_file, intrinsics)
        self.intrinsics = intrinsics
        fps = fps or gt_fps or 30.0
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.fps = float(fps)
        self.start_ns = int(start_ns)
        self.frame_id = frame_id

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[SourceFrame]:
        for i, path in enumerate(self.files):
            self.report.frames += 1
            stamp = self.start_ns + int(round(i * 1e9 / self.fps))
            data = np.fromfile(str(path), dtype=np.uint8)
            try:
                rgb = _decode_file(data)
            except ValueError as exc:
                self.report.add_error("decode", f"{path.name}: {exc}")
                yield SourceFrame(i, stamp, self.frame_id, None, None, error=f"cannot decode {path.name}: {exc}",
                                  name=path.name)
                continue
            intr, warnings = _frame_intrinsics(self.intrinsics, rgb, self.report)
            self.report.good_frames += 1
            yield SourceFrame(i, stamp, self.frame_id, rgb, intr, name=path.name, warnings=warnings)


def open_source(path: str | os.PathLike, image_topic: str | None = None, camera_info_topic: str | None = None,
                intrinsics: CameraIntrinsics | None = None, fps: float | None = None,
                start_ns: int = DEFAULT_START_NS, frame_id: str = "camera", camera_info_mode: str = "cache",
                slop_s: float = 0.02, use_projection: bool = False, mono16_max: float | None = None,
                types: RosbagsTypes | None = None, depth_topic: str | None = None, depth_scale: float = 0.001,
                depth_max_age_s: float = 0.02) -> FrameSource:
    """The right :class:`FrameSource` for ``path`` (bag folder/file, video file, image folder);
    ``depth_topic``: a registered depth topic of a bag, paired by stamp (frames carry ``depth``)."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p} does not exist")
    if is_bag(p):
        return BagSource(p, image_topic, camera_info_topic, intrinsics, camera_info_mode, slop_s,
                         use_projection, mono16_max, types, depth_topic, depth_scale, depth_max_age_s)
    if depth_topic:
        raise ValueError(f"--depth-topic needs a rosbag2 input; {p} is not one (use --depth FOLDER|VIDEO)")
    if p.is_dir():
        return FolderSource(p, intrinsics, fps, start_ns, frame_id)
    if p.suffix.lower() in VIDEO_SUFFIXES or p.is_file():
        return VideoSource(p, intrinsics, fps, start_ns, frame_id)
    raise ValueError(f"{p}: not a rosbag2, video file or image folder")


def read_hand_arrays(path: str | os.PathLike, topic: str, types: RosbagsTypes | None = None,
                     report: ReadReport | None = None) -> list[Any]:
    """FrameResults of a HandArray topic of a bag (ground truth or a previous replay's output).
    Messages that do not deserialize are counted in ``report`` and skipped."""
    from hand_perception.core.conversions import HAND_ARRAY, hand_array_to_frame_result

    types = types or RosbagsTypes()
    report = report if report is not None else ReadReport(source=str(path), kind="rosbag2")
    bag = BagMessages(path, report, types)
    if topic not in bag.topics:
        raise ValueError(f"topic {topic!r} is not in {path} (topics: {sorted(bag.topics)})")
    if bag.topics[topic][0] != HAND_ARRAY:
        raise ValueError(f"topic {topic!r} has type {bag.topics[topic][0]}, expected {HAND_ARRAY}")
    out = []
    for raw in bag.messages({topic}):
        try:
            out.append(hand_array_to_frame_result(types.deserialize(raw.data, HAND_ARRAY)))
        except Exception as exc:  # noqa: BLE001
            report.add_error("ground_truth_deserialize", f"{topic} at {raw.log_time_ns}: {exc}")
    return out


__all__ = [
    "BagMessages",
    "BagSource",
    "DEFAULT_START_NS",
    "FolderSource",
    "FrameSource",
    "RawMessage",
    "ReadReport",
    "SourceFrame",
    "VideoSource",
    "is_bag",
    "open_source",
    "parse_intrinsics",
    "read_hand_arrays",
]
