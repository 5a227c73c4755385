"""Image decoding without cv_bridge (hand_perception.core.image_codec): every supported encoding,
row padding, endianness, bad sizes, compressed images, CameraInfo conversion."""

from __future__ import annotations

import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from hand_perception.core import image_codec as ic


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.zeros((24, 32, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, 32, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(255, 0, 24, dtype=np.uint8)[:, None]
    img[..., 2] = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    return img


def _msg(fields: dict, data=None) -> SimpleNamespace:
    f = dict(fields)
    if data is not None:
        f["data"] = data
    return SimpleNamespace(**f)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("padding", [0, 5])
def test_colour_encodings_round_trip_exactly(rgb, encoding, padding):
    fields = ic.encode_image(rgb, encoding, row_padding=padding)
    assert fields["step"] == rgb.shape[1] * len(encoding.rstrip("8")) + padding
    out = ic.image_to_rgb(_msg(fields))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out.flags["C_CONTIGUOUS"] and out.flags["WRITEABLE"]
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("container", ["bytes", "array", "numpy", "memoryview"])
def test_data_container_types(rgb, container):
    fields = ic.encode_image(rgb, "bgr8")
    data = fields["data"]
    converted = {
        "bytes": data.tobytes(),
        "array": array.array("B", data.tobytes()),  # rclpy's uint8[]
        "numpy": data,  # rosbags
        "memoryview": memoryview(data.tobytes()),
    }[container]
    np.testing.assert_array_equal(ic.image_to_rgb(_msg(fields, converted)), rgb)


def test_output_never_aliases_the_message_buffer(rgb):
    fields = ic.encode_image(rgb, "rgb8")
    out = ic.image_to_rgb(_msg(fields))
    out[:] = 0
    assert fields["data"].any()


def test_mono8_and_aliases(rgb):
    fields = ic.encode_image(rgb, "mono8")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out = ic.image_to_rgb(_msg(fields))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    np.testing.assert_array_equal(ic.image_to_rgb(_msg({**fields, "encoding": "8UC1"})), out)
    bgr = ic.encode_image(rgb, "bgr8")
    np.testing.assert_array_equal(ic.image_to_rgb(_msg({**bgr, "encoding": "8UC3"})), rgb)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("padding", [0, 4])
def test_mono16_endianness_step_and_scaling(rgb, big_endian, padding):
    fields = ic.encode_image(rgb, "mono16", row_padding=padding, is_bigendian=big_endian)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # full-range scaling gives the 8-bit image back (value * 257 * 255 / 65535 = value)
    out = ic.image_to_rgb(_msg(fields), mono16_max=65535)
    np.testing.assert_array_equal(out[..., 0], gray)
    # stretch mode maps the image's maximum to 255
    out = ic.image_to_rgb(_msg(fields))
    assert out[..., 0].max() == 255
    # the wrong endianness flag gives a different image (the flag is honoured)
    wrong = ic.image_to_rgb(_msg({**fields, "is_bigendian": int(not big_endian)}), mono16_max=65535)
    assert not np.array_equal(wrong, out)


def test_mono16_12bit_sensor():
    raw = np.array([[0, 1024, 2048, 4095]], dtype="<u2")
    out = ic.decode_image(1, 4, "mono16", 8, raw.view(np.uint8).reshape(-1), False, mono16_max=4095)
    np.testing.assert_array_equal(out[0, :, 0], [0, 64, 128, 255])


def test_rgb16_keeps_high_byte(rgb):
    samples = rgb.astype(np.uint16) * 257
    data = samples.astype(">u2").view(np.uint8).reshape(-1)
    out = ic.decode_image(rgb.shape[0], rgb.shape[1], "rgb16", rgb.shape[1] * 6, data, True)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("encoding", ["yuv422", "yuv422_yuy2"])
def test_packed_yuv422(rgb, encoding):
    smooth = cv2.GaussianBlur(rgb, (0, 0), 3)  # chroma subsampling is lossy on noise
    fields = ic.encode_image(smooth, encoding, row_padding=6)
    out = ic.image_to_rgb(_msg(fields))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 6
    # the two packings are different byte orders of the same image
    other = "yuv422_yuy2" if encoding == "yuv422" else "yuv422"
    swapped = ic.image_to_rgb(_msg({**fields, "encoding": other}))
    assert np.abs(swapped.astype(int) - smooth.astype(int)).mean() > 10


def test_alias_uyvy_yuyv(rgb):
    fields = ic.encode_image(rgb, "yuv422")
    np.testing.assert_array_equal(ic.image_to_rgb(_msg({**fields, "encoding": "uyvy"})), ic.image_to_rgb(_msg(fields)))
    fields = ic.encode_image(rgb, "yuv422_yuy2")
    np.testing.assert_array_equal(ic.image_to_rgb(_msg({**fields, "encoding": "YUYV"})), ic.image_to_rgb(_msg(fields)))


def test_nv21(rgb):
    rgb = cv2.GaussianBlur(rgb, (0, 0), 3)  # chroma is subsampled: compare on a smooth image
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YV12)  # planar Y, V, U
    h, w = rgb.shape[:2]
    y = yuv[:h]
    v = yuv[h:h + h // 4].reshape(h // 2, w // 2)
    u = yuv[h + h // 4:].reshape(h // 2, w // 2)
    vu = np.stack([v, u], axis=-1).reshape(h // 2, w)
    data = np.concatenate([y, vu]).reshape(-1)
    out = ic.decode_image(h, w, "nv21", w, data)
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 6


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoding": "bayer_rggb8"}, "unsupported image encoding"),
        ({"encoding": "32FC1"}, "unsupported image encoding"),
        ({"step": 10}, "shorter than one row"),
        ({"height": 25}, "truncated"),
        ({"height": 23}, "too long"),
        ({"width": 0}, "zero"),
    ],
)
def test_inconsistent_fields_raise_clear_errors(rgb, change, message):
    fields = ic.encode_image(rgb, "rgb8")
    with pytest.raises(ValueError, match=message):
        ic.image_to_rgb(_msg({**fields, **change}))


def test_truncated_data_and_odd_width(rgb):
    fields = ic.encode_image(rgb, "rgb8")
    with pytest.raises(ValueError, match="truncated"):
        ic.image_to_rgb(_msg(fields, fields["data"][:-1]))
    with pytest.raises(ValueError, match="even"):
        ic.decode_image(2, 3, "yuv422", 6, np.zeros(12, np.uint8))
    with pytest.raises(ValueError, match="multiple"):
        ic.decode_image(2, 2, "mono16", 5, np.zeros(10, np.uint8))


def test_missing_fields():
    with pytest.raises(ValueError, match="height"):
        ic.image_to_rgb(SimpleNamespace(width=2, encoding="rgb8", step=6, data=b""))


# --------------------------------------------------------------------------- compressed


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_round_trip(rgb, fmt):
    rgb = cv2.GaussianBlur(rgb, (0, 0), 2) if fmt == "jpeg" else rgb  # JPEG is lossy on noise
    fields = ic.encode_compressed_image(rgb, fmt, quality=95)
    assert "compressed" in fields["format"]
    out = ic.compressed_to_rgb(SimpleNamespace(**fields))
    assert out.shape == rgb.shape and out.flags["C_CONTIGUOUS"]
    tol = 0 if fmt == "png" else 4
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() <= tol


def test_compressed_plain_format_strings_and_rgb_target(rgb):
    fields = ic.encode_compressed_image(rgb, "png")
    np.testing.assert_array_equal(ic.decode_compressed_image("png", fields["data"]), rgb)
    # a PNG written from rgb8 bytes without conversion: the target says rgb8, so no swap
    ok, buf = cv2.imencode(".png", rgb)
    np.testing.assert_array_equal(ic.decode_compressed_image("rgb8; png compressed rgb8", buf), rgb)


def test_compressed_grayscale(rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    ok, buf = cv2.imencode(".png", gray)
    out = ic.decode_compressed_image("mono8; png compressed mono8", buf.tobytes())
    np.testing.assert_array_equal(out[..., 1], gray)


def test_corrupt_and_truncated_compressed(rgb):
    jpeg = ic.encode_compressed_image(rgb, "jpeg")["data"].tobytes()
    png = ic.encode_compressed_image(rgb, "png")["data"].tobytes()
    with pytest.raises(ValueError, match="no data"):
        ic.decode_compressed_image("jpeg", b"")
    with pytest.raises(ValueError, match="truncated JPEG"):
        ic.decode_compressed_image("jpeg", jpeg[: len(jpeg) // 2])
    with pytest.raises(ValueError, match="truncated PNG"):
        ic.decode_compressed_image("png", png[: len(png) // 2])
    with pytest.raises(ValueError, match="neither JPEG nor PNG"):
        ic.decode_compressed_image("jpeg", b"\x00\x01\x02garbage" * 10)
    garbage = jpeg[:2] + bytes(200) + b"\xff\xd9"
    with pytest.raises(ValueError, match="corrupt"):
        ic.decode_compressed_image("jpeg", garbage)
    with pytest.raises(ValueError, match="compressedDepth"):
        ic.decode_compressed_image("16UC1; compressedDepth png", png)


# --------------------------------------------------------------------------- camera info

K = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]


def test_camera_info_to_intrinsics():
    intr = ic.camera_info_to_intrinsics(K, [0.1, -0.2, 0.001, 0.002, 0.05], 640, 480, "plumb_bob")
    np.testing.assert_allclose(intr.K, np.reshape(K, (3, 3)))
    np.testing.assert_allclose(intr.dist, [0.1, -0.2, 0.001, 0.002, 0.05])
    assert (intr.width, intr.height, intr.is_default) == (640, 480, False)
    assert intr.K.flags["WRITEABLE"]
    assert ic.camera_info_to_intrinsics(K, [], 640, 480, "plumb_bob").dist.tolist() == [0.0] * 5
    assert ic.camera_info_to_intrinsics(K, [0.1, 0.2, 0, 0], 640, 480, "plumb_bob").dist.size == 5
    assert ic.camera_info_to_intrinsics(K, list(range(8)), 640, 480, "rational_polynomial").dist.size == 8
    assert ic.camera_info_to_intrinsics(K, [0, 0, 0, 0, 0], 640, 480, "").dist.size == 5


@pytest.mark.parametrize(
    "k, d, model, message",
    [
        ([float("nan")] + K[1:], [], "plumb_bob", "NaN"),
        ([0.0] * 9, [], "plumb_bob", "uncalibrated"),
        ([0.0] + K[1:], [], "plumb_bob", "focal"),
        ([-500.0] + K[1:], [], "plumb_bob", "focal"),
        (K[:8], [], "plumb_bob", "9 entries"),
        (K[:6] + [0.0, 0.0, 2.0], [], "plumb_bob", "form"),
        (K, [0.1] * 4, "equidistant", "unsupported distortion model"),
        (K, [0.1] * 3, "plumb_bob", "4 or 5"),
        (K, [0.1] * 5, "rational_polynomial", "8 coefficients"),
        (K, [float("inf")] * 5, "plumb_bob", "NaN or inf"),
        (K, [0.1] * 5, "none", "non-zero"),
    ],
)
def test_invalid_camera_info(k, d, model, message):
    with pytest.raises(ValueError, match=message):
        ic.camera_info_to_intrinsics(k, d, 640, 480, model)


def test_camera_info_message_projection_and_binning():
    P = [400.0, 0.0, 300.0, 0.0, 0.0, 400.0, 200.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg = SimpleNamespace(k=K, d=[0.3, 0, 0, 0, 0], p=P, width=640, height=480, distortion_model="plumb_bob",
                          binning_x=2, binning_y=2)
    intr = ic.camera_info_msg_to_intrinsics(msg)
    assert (intr.width, intr.height) == (320, 240)
    np.testing.assert_allclose(intr.K[0], [250.0, 0.0, 160.0])
    rect = ic.camera_info_msg_to_intrinsics(SimpleNamespace(**{**msg.__dict__, "binning_x": 0, "binning_y": 0}),
                                            use_projection=True)
    np.testing.assert_allclose(rect.K[:2], [[400, 0, 300], [0, 400, 200]])
    assert not rect.dist.any()


def test_intrinsics_for_resized_images():
    intr = ic.camera_info_to_intrinsics(K, [], 640, 480, "plumb_bob")
    same, note = ic.intrinsics_for_image(intr, 640, 480)
    assert same is intr and note is None
    half, note = ic.intrinsics_for_image(intr, 320, 240)
    assert "scaled" in note
    np.testing.assert_allclose(half.K[0, 0], 250.0)
    np.testing.assert_allclose(half.K[0, 2], 0.5 * (320 + 0.5) - 0.5)
    with pytest.raises(ValueError, match="aspect"):
        ic.intrinsics_for_image(intr, 640, 640)
    unknown = ic.camera_info_to_intrinsics(K, [], 0, 0, "plumb_bob")
    assert ic.intrinsics_for_image(unknown, 100, 100)[0] is unknown


def test_camera_info_fields_round_trip():
    intr = ic.camera_info_to_intrinsics(K, [0.1, 0.0, 0.0, 0.0, 0.0], 640, 480, "plumb_bob")
    f = ic.camera_info_fields(intr)
    back = ic.camera_info_to_intrinsics(f["k"], f["d"], f["width"], f["height"], f["distortion_model"], p=f["p"])
    np.testing.assert_allclose(back.K, intr.K)
    np.testing.assert_allclose(back.dist, intr.dist)


def test_encoders_reject_bad_input(rgb):
    with pytest.raises(ValueError):
        ic.encode_image(rgb[..., 0], "rgb8")
    with pytest.raises(ValueError):
        ic.encode_image(rgb, "bayer_rggb8")
    with pytest.raises(ValueError):
        ic.encode_compressed_image(rgb, "webp")
