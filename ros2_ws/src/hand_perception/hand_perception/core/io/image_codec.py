"""sensor_msgs/Image, CompressedImage and CameraInfo <-> numpy, without cv_bridge.

Decoding works on rclpy messages, ``rosbags`` messages and any object with the same
attributes (``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``; for
CompressedImage ``format`` and ``data``). ``data`` may be ``bytes``, ``bytearray``,
``memoryview``, ``array.array`` (rclpy) or a numpy array (rosbags).

Every decoder returns an RGB ``uint8`` array of shape ``(H, W, 3)``, C-contiguous and writable
(never a view of the message buffer). Everything that does not add up raises ``ValueError``
with the reason: unknown encoding, zero size, a ``step`` shorter than a row, a data size other
than ``step * height``, odd widths for packed YUV, corrupt or truncated JPEG/PNG data. Callers
(nodes, replay) catch ``ValueError``, count the frame as bad and carry on.

Supported raw encodings (``sensor_msgs/image_encodings``):

* ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` (also the OpenCV aliases ``8UC1``,
  ``8UC3`` = bgr8, ``8UC4`` = bgra8);
* ``rgb16``, ``bgr16``, ``rgba16``, ``bgra16`` (high byte kept), ``mono16`` / ``16UC1``
  (scaled to 8 bit, see :func:`decode_image`), all honouring ``is_bigendian``;
* ``yuv422`` / ``uyvy`` (U Y0 V Y1), ``yuv422_yuy2`` / ``yuyv`` (Y0 U Y1 V), ``nv21``
  (BT.601 as OpenCV converts it).

CompressedImage: JPEG and PNG via ``cv2.imdecode``. ``format`` follows
``compressed_image_transport`` (``"jpeg"``, ``"png"``, ``"bgr8; jpeg compressed bgr8"``,
``"rgb8; png compressed rgb8"``): the colour order of the decoded pixels follows the target
encoding after ``compressed`` (bgr8 unless it says rgb8/rgba8). ``compressedDepth`` is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import CameraIntrinsics

__all__ = [
    "RAW_ENCODINGS",
    "camera_info_fields",
    "camera_info_to_intrinsics",
    "decode_compressed_image",
    "decode_image",
    "encode_compressed_image",
    "encode_image",
    "image_to_rgb",
    "intrinsics_for_image",
    "try_intrinsics_for_image",
]


@dataclass(frozen=True)
class _Layout:
    channels: int  # values per pixel (packed YUV: bytes per pixel)
    depth: int  # bytes per value
    kind: str  # "rgb", "bgr", "rgba", "bgra", "mono", "uyvy", "yuyv", "nv21"


_LAYOUTS: dict[str, _Layout] = {
    "rgb8": _Layout(3, 1, "rgb"),
    "bgr8": _Layout(3, 1, "bgr"),
    "rgba8": _Layout(4, 1, "rgba"),
    "bgra8": _Layout(4, 1, "bgra"),
    "mono8": _Layout(1, 1, "mono"),
    "8uc1": _Layout(1, 1, "mono"),
    "8uc3": _Layout(3, 1, "bgr"),
    "8uc4": _Layout(4, 1, "bgra"),
    "rgb16": _Layout(3, 2, "rgb"),
    "bgr16": _Layout(3, 2, "bgr"),
    "rgba16": _Layout(4, 2, "rgba"),
    "bgra16": _Layout(4, 2, "bgra"),
    "mono16": _Layout(1, 2, "mono"),
    "16uc1": _Layout(1, 2, "mono"),
    "yuv422": _Layout(2, 1, "uyvy"),
    "uyvy": _Layout(2, 1, "uyvy"),
    "yuv422_yuy2": _Layout(2, 1, "yuyv"),
    "yuyv": _Layout(2, 1, "yuyv"),
    "nv21": _Layout(1, 1, "nv21"),  # planar: H rows of Y, H/2 rows of interleaved VU
}

#: Raw encodings :func:`decode_image` accepts (lower case; matching is case-insensitive).
RAW_ENCODINGS: tuple[str, ...] = tuple(_LAYOUTS)


def _buffer(data: Any) -> np.ndarray:
    """uint8 view of a message's ``data`` field (bytes, array.array, numpy, list of ints)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            data = data.astype(np.uint8, copy=False) if data.dtype.kind in "iub" else data.view(np.uint8)
        return data.reshape(-1)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)  # array.array and friends
    except TypeError:
        return np.asarray(list(data), dtype=np.uint8)


def _int_field(msg: Any, name: str) -> int:
    try:
        return int(getattr(msg, name))
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"image message has no integer field {name!r}") from None


def _layout(encoding: str) -> _Layout:
    layout = _LAYOUTS.get(str(encoding).strip().lower())
    if layout is None:
        raise ValueError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(RAW_ENCODINGS)} "
            "(and sensor_msgs/CompressedImage jpeg/png)"
        )
    return layout


def _scale16(values: np.ndarray, mono16_max: float | None) -> np.ndarray:
    """uint16 -> uint8. ``mono16_max=None``: stretch the image's own range [0, max] to [0, 255];
    a number: ``value * 255 / mono16_max`` clipped (e.g. 4095 for 12-bit sensors, 65535 for full)."""
    v = values.astype(np.float32)
    top = float(mono16_max) if mono16_max is not None else float(v.max(initial=0.0))
    if not (top > 0 and math.isfinite(top)):
        return np.zeros(values.shape, np.uint8)
    return np.clip(v * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def decode_image(
    height: int,
    width: int,
    encoding: str,
    step: int,
    data: Any,
    is_bigendian: bool | int = False,
    mono16_max: float | None = None,
) -> np.ndarray:
    """Raw image fields -> RGB uint8 (H, W, 3), contiguous, writable. See the module docstring.

    ``mono16_max``: for ``mono16``/``16UC1`` only (see :func:`_scale16`). Colour 16-bit encodings
    keep the high byte. Raises ``ValueError`` when the fields disagree.
    """
    import cv2

    layout = _layout(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ValueError(f"image has zero or negative size {width}x{height}")
    buf = _buffer(data)
    row_bytes = width * layout.channels * layout.depth
    rows = height
    if layout.kind == "nv21":
        if height % 2 or width % 2:
            raise ValueError(f"nv21 needs an even width and height, got {width}x{height}")
        rows = height + height // 2
    if layout.kind in ("uyvy", "yuyv") and width % 2:
        raise ValueError(f"{encoding} packs pixel pairs: the width must be even, got {width}")
    if step < row_bytes:
        raise ValueError(
            f"step {step} is shorter than one row of {width} px in {encoding} ({row_bytes} bytes)"
        )
    if step % layout.depth:
        raise ValueError(f"step {step} is not a multiple of the {layout.depth}-byte sample size of {encoding}")
    expected = step * rows
    if buf.size != expected:
        what = "truncated" if buf.size < expected else "too long"
        raise ValueError(
            f"image data is {what}: {buf.size} bytes, expected step*rows = {step}*{rows} = {expected} "
            f"({encoding}, {width}x{height})"
        )
    rows2d = buf.reshape(rows, step)[:, :row_bytes]

    if layout.depth == 2:
        dtype = np.dtype(">u2" if bool(is_bigendian) else "<u2")
        samples = np.ascontiguousarray(rows2d).view(dtype).reshape(height, width, layout.channels)
        if layout.kind == "mono":
            pixels = _scale16(samples[..., 0], mono16_max)[..., None]
        else:
            pixels = (samples >> 8).astype(np.uint8)
    else:
        pixels = rows2d.reshape(rows, width, layout.channels)

    kind = layout.kind
    if kind == "rgb":
        out = pixels
    elif kind == "bgr":
        out = pixels[..., ::-1]
    elif kind == "rgba":
        out = pixels[..., :3]
    elif kind == "bgra":
        out = pixels[..., 2::-1]
    elif kind == "mono":
        out = np.repeat(pixels[..., :1], 3, axis=2)
    elif kind == "uyvy":
        out = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_YUV2RGB_UYVY)
    elif kind == "yuyv":
        out = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_YUV2RGB_YUY2)
    elif kind == "nv21":
        out = cv2.cvtColor(np.ascontiguousarray(pixels[..., 0]), cv2.COLOR_YUV2RGB_NV21)
    else:  # pragma: no cover - every layout kind is handled above
        raise ValueError(f"unsupported layout {kind}")
    return np.array(out, dtype=np.uint8, order="C", copy=True)


def image_to_rgb(msg: Any, mono16_max: float | None = None) -> np.ndarray:
    """``sensor_msgs/Image`` (rclpy or rosbags) -> RGB uint8 (H, W, 3). ValueError when bad."""
    return decode_image(
        _int_field(msg, "height"),
        _int_field(msg, "width"),
        str(getattr(msg, "encoding", "")),
        _int_field(msg, "step"),
        getattr(msg, "data", b""),
        bool(getattr(msg, "is_bigendian", 0)),
        mono16_max=mono16_max,
    )


def _compressed_target(fmt: str) -> str:
    """Pixel order of the decoded data for a compressed_image_transport ``format`` string."""
    f = fmt.lower()
    if "compresseddepth" in f:
        raise ValueError(f"compressedDepth images are not supported (format {fmt!r})")
    if "compressed" in f:
        target = f.split("compressed", 1)[1].strip()
        if target.startswith(("rgb8", "rgba8", "rgb16", "rgba16")):
            return "rgb"
    return "bgr"


def decode_compressed_image(fmt: str, data: Any) -> np.ndarray:
    """CompressedImage ``format`` and ``data`` (JPEG or PNG) -> RGB uint8 (H, W, 3).

    Raises ``ValueError`` for empty, truncated (JPEG without its end-of-image marker, PNG without
    its IEND chunk) or undecodable data, and for formats other than JPEG/PNG.
    """
    import cv2

    buf = np.ascontiguousarray(_buffer(data))
    if buf.size == 0:
        raise ValueError("compressed image has no data")
    head = buf[:8].tobytes()
    fmt = str(fmt or "")
    is_jpeg = head[:2] == b"\xff\xd8"
    is_png = head == b"\x89PNG\r\n\x1a\n"
    if not (is_jpeg or is_png):
        raise ValueError(
            f"compressed image (format {fmt!r}) is neither JPEG nor PNG "
            f"(first bytes {head[:4].hex()}); corrupt or unsupported"
        )
    order = _compressed_target(fmt)
    tail = buf[-64:].tobytes().rstrip(b"\x00")
    if is_jpeg and not tail.endswith(b"\xff\xd9"):
        raise ValueError(f"truncated JPEG ({buf.size} bytes, no end-of-image marker)")
    if is_png and b"IEND" not in tail:
        raise ValueError(f"truncated PNG ({buf.size} bytes, no IEND chunk)")
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ValueError(f"cannot decode the compressed image (format {fmt!r}, {buf.size} bytes): corrupt data")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"compressed image decodes to unsupported dtype {image.dtype}")
    if image.ndim == 2:
        rgb = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 1:
        rgb = np.repeat(image, 3, axis=2)
    else:
        rgb = image[..., :3] if order == "rgb" else image[..., 2::-1]
    return np.array(rgb, dtype=np.uint8, order="C", copy=True)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """``sensor_msgs/CompressedImage`` (rclpy or rosbags) -> RGB uint8 (H, W, 3)."""
    return decode_compressed_image(str(getattr(msg, "format", "")), getattr(msg, "data", b""))


# --------------------------------------------------------------------------- camera info

_DIST_SIZES = {"plumb_bob": (5,), "rational_polynomial": (8,)}


def camera_info_to_intrinsics(
    k: Any,
    d: Any,
    width: int,
    height: int,
    distortion_model: str = "plumb_bob",
    p: Any = None,
    use_projection: bool = False,
) -> CameraIntrinsics:
    """CameraInfo fields -> :class:`CameraIntrinsics`, validated.

    ``k``: the 9 row-major entries of K. ``d``: distortion coefficients for ``plumb_bob``
    (5: k1 k2 p1 p2 k3; 4 are padded with k3 = 0; none = no distortion) or
    ``rational_polynomial`` (8); ``""``/``"none"`` need zero coefficients. ``use_projection``:
    take the intrinsics from ``p`` (3x4, rectified images) with no distortion.

    Raises ``ValueError`` for an all-zero K (uncalibrated camera), NaN/inf entries, non-positive
    focal lengths, a bad last row, negative sizes, unsupported distortion models (e.g.
    ``equidistant`` fisheye) or coefficient counts.
    """
    if use_projection:
        if p is None:
            raise ValueError("use_projection needs the P matrix")
        pm = np.array(p, dtype=np.float64).reshape(-1)
        if pm.size != 12:
            raise ValueError(f"P must have 12 entries, got {pm.size}")
        km = pm.reshape(3, 4)[:, :3].copy()
        dist = np.zeros(5)
    else:
        km = np.array(k, dtype=np.float64).reshape(-1)
        if km.size != 9:
            raise ValueError(f"K must have 9 entries, got {km.size}")
        km = km.reshape(3, 3)
        model = str(distortion_model or "").strip().lower()
        coeffs = np.array(d if d is not None else [], dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(coeffs)):
            raise ValueError("distortion coefficients contain NaN or inf")
        if model in ("", "none"):
            if np.any(coeffs != 0):
                raise ValueError(f"distortion model {distortion_model!r} with non-zero coefficients")
            dist = np.zeros(5)
        elif model == "plumb_bob":
            if coeffs.size == 0:
                dist = np.zeros(5)
            elif coeffs.size in (4, 5):
                dist = np.zeros(5)
                dist[: coeffs.size] = coeffs
            else:
                raise ValueError(f"plumb_bob needs 4 or 5 coefficients, got {coeffs.size}")
        elif model == "rational_polynomial":
            if coeffs.size == 0:
                dist = np.zeros(5)
            elif coeffs.size == 8:
                dist = coeffs.copy()
            else:
                raise ValueError(f"rational_polynomial needs 8 coefficients, got {coeffs.size}")
        else:
            raise ValueError(
                f"unsupported distortion model {distortion_model!r}; supported: plumb_bob, "
                "rational_polynomial (rectify fisheye/equidistant images first and use their P)"
            )
    if not np.all(np.isfinite(km)):
        raise ValueError("camera matrix contains NaN or inf")
    if not np.any(km):
        raise ValueError("camera matrix is all zeros (uncalibrated camera)")
    if km[0, 0] <= 0 or km[1, 1] <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={km[0, 0]:g}, fy={km[1, 1]:g}")
    if km[1, 0] != 0 or not np.allclose(km[2], [0.0, 0.0, 1.0], atol=1e-9):
        raise ValueError(f"camera matrix is not of the form [[fx,s,cx],[0,fy,cy],[0,0,1]]: {km.tolist()}")
    width, height = int(width), int(height)
    if width < 0 or height < 0:
        raise ValueError(f"negative camera size {width}x{height}")
    return CameraIntrinsics(K=km, dist=dist, width=width, height=height, is_default=False)


def camera_info_msg_to_intrinsics(msg: Any, use_projection: bool = False) -> CameraIntrinsics:
    """``sensor_msgs/CameraInfo`` (rclpy or rosbags) -> intrinsics, with binning undone.

    A binned camera (``binning_x/y > 1``) publishes images that are smaller than the calibration;
    K is scaled accordingly. ROI is not applied (full-frame images are assumed).
    """
    intr = camera_info_to_intrinsics(
        msg.k, msg.d, int(msg.width), int(msg.height), str(msg.distortion_model),
        p=getattr(msg, "p", None), use_projection=use_projection,
    )
    bx = max(1, int(getattr(msg, "binning_x", 0) or 1))
    by = max(1, int(getattr(msg, "binning_y", 0) or 1))
    if bx > 1 or by > 1:
        K = intr.K.copy()
        K[0] /= bx
        K[1] /= by
        intr = CameraIntrinsics(K=K, dist=intr.dist, width=intr.width // bx, height=intr.height // by)
    return intr


def intrinsics_for_image(intr: CameraIntrinsics, width: int, height: int,
                         aspect_tolerance: float = 0.01) -> tuple[CameraIntrinsics, str | None]:
    """Intrinsics valid for an image of ``width`` x ``height``, and a warning if they were adapted.

    Same size (or unknown calibration size 0x0) -> unchanged. A uniformly resized image (same
    aspect ratio within ``aspect_tolerance``) -> K scaled to the image, with a warning. Otherwise
    ``ValueError`` (the CameraInfo does not describe this image).
    """
    if intr.width <= 0 or intr.height <= 0 or (intr.width == width and intr.height == height):
        return intr, None
    sx, sy = width / intr.width, height / intr.height
    if abs(sx - sy) > aspect_tolerance * max(sx, sy):
        raise ValueError(
            f"camera_info is for {intr.width}x{intr.height} but the image is {width}x{height} "
            "(different aspect ratio)"
        )
    K = intr.K.astype(np.float64).copy()
    K[0, :] *= sx
    K[1, :] *= sy
    # pixel centres: u' + 0.5 = s (u + 0.5)
    K[0, 2] += 0.5 * (sx - 1.0)
    K[1, 2] += 0.5 * (sy - 1.0)
    scaled = CameraIntrinsics(K=K, dist=np.asarray(intr.dist).copy(), width=width, height=height)
    return scaled, (
        f"camera_info is for {intr.width}x{intr.height}, the image is {width}x{height}: K scaled"
    )


def camera_info_fields(intr: CameraIntrinsics) -> dict[str, Any]:
    """CameraInfo field values (k, d, r, p, width, height, distortion_model) for intrinsics."""
    K = np.asarray(intr.K, dtype=np.float64).reshape(3, 3)
    dist = np.asarray(intr.dist if intr.dist is not None else [], dtype=np.float64).reshape(-1)
    model = "rational_polynomial" if dist.size == 8 else "plumb_bob"
    if model == "plumb_bob":
        d5 = np.zeros(5)
        d5[: min(5, dist.size)] = dist[:5]
        dist = d5
    P = np.zeros((3, 4))
    P[:, :3] = K
    return {
        "width": int(intr.width),
        "height": int(intr.height),
        "distortion_model": model,
        "d": dist,
        "k": K.reshape(9).copy(),
        "r": np.eye(3).reshape(9),
        "p": P.reshape(12),
    }


# --------------------------------------------------------------------------- encoders


def encode_image(rgb: np.ndarray, encoding: str = "rgb8", row_padding: int = 0,
                 is_bigendian: bool = False) -> dict[str, Any]:
    """RGB uint8 (H, W, 3) -> Image field values (height, width, encoding, is_bigendian, step,
    data as uint8 numpy). ``row_padding`` extra bytes per row exercise ``step`` handling.

    Encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16 (value * 257), yuv422 (UYVY),
    yuv422_yuy2 (YUYV). For tests and for writing bags.
    """
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    enc = encoding.lower()
    if enc == "rgb8":
        pix = rgb
    elif enc == "bgr8":
        pix = rgb[..., ::-1]
    elif enc == "rgba8":
        pix = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
    elif enc == "bgra8":
        pix = np.concatenate([rgb[..., ::-1], np.full((h, w, 1), 255, np.uint8)], axis=2)
    elif enc == "mono8":
        pix = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)[..., None]
    elif enc == "mono16":
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
        pix = gray.astype(">u2" if is_bigendian else "<u2").view(np.uint8).reshape(h, w, 2)
    elif enc in ("yuv422", "yuv422_yuy2"):
        if w % 2:
            raise ValueError("packed YUV 4:2:2 needs an even width")
        # BT.601 limited range, the inverse of OpenCV's COLOR_YUV2RGB_UYVY / _YUY2
        f = rgb.astype(np.float32)
        r, g, b = f[..., 0], f[..., 1], f[..., 2]
        y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
        cb = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
        cr = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
        u = 0.5 * (cb[:, 0::2] + cb[:, 1::2])
        v = 0.5 * (cr[:, 0::2] + cr[:, 1::2])
        packed = np.empty((h, w // 2, 4), np.float32)
        if enc == "yuv422":  # U Y0 V Y1
            packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = u, y[:, 0::2], v, y[:, 1::2]
        else:  # Y0 U Y1 V
            packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = y[:, 0::2], u, y[:, 1::2], v
        pix = np.clip(np.rint(packed), 0, 255).astype(np.uint8).reshape(h, w, 2)
    else:
        raise ValueError(f"encode_image does not support {encoding!r}")
    rows = np.ascontiguousarray(pix).reshape(h, -1)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((h, int(row_padding)), np.uint8)], axis=1)
    return {
        "height": h,
        "width": w,
        "encoding": enc,
        "is_bigendian": int(bool(is_bigendian)),
        "step": int(rows.shape[1]),
        "data": np.ascontiguousarray(rows).reshape(-1),
    }


def encode_compressed_image(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> dict[str, Any]:
    """RGB uint8 (H, W, 3) -> CompressedImage field values (format, data as uint8 numpy).

    ``format`` is written the way compressed_image_transport does (``"rgb8; jpeg compressed bgr8"``).
    """
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    fmt = fmt.lower()
    if fmt in ("jpeg", "jpg"):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        name = "jpeg"
    elif fmt == "png":
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
        name = "png"
    else:
        raise ValueError(f"encode_compressed_image supports jpeg and png, not {fmt!r}")
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise ValueError("OpenCV failed to encode the image")
    return {"format": f"rgb8; {name} compressed bgr8", "data": np.asarray(buf, np.uint8).reshape(-1)}


def try_intrinsics_for_image(intr: CameraIntrinsics, width: int, height: int) -> tuple[CameraIntrinsics | None, str | None]:
    """:func:`intrinsics_for_image` without raising: ``(intrinsics, note or None)`` when they fit
    the image (adapted or not), ``(None, why)`` when they do not describe it."""
    try:
        return intrinsics_for_image(intr, width, height)
    except ValueError as exc:
        return None, str(exc)
