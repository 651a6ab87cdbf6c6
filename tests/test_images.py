"""heldout.images on a corpus of problem files made from real photos (skimage.data).

Every file is built in memory by the ``corpus`` session fixture. Bad files must raise ImageError
with a reason naming the problem; good files must give a 500 px (longer side) and a 256 x 256 RGB
JPEG without metadata, the sizes a plain full decode gives, the same bytes every time.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import warnings
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features

from heldout.errors import ImageError
from heldout.images import PreparedImage, decode, prepare, rendition_size

skimage_data = pytest.importorskip("skimage.data")

BLUE = (0, 0, 255)
WHITE_MIN = 245  # JPEG may take a white area a few levels below 255


# --------------------------------------------------------------------------------------------------
# Building the corpus.


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed 8-bit grey PNG whose header claims ``width`` x ``height``; pixel data is tiny."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    pixels = png_chunk(b"IDAT", zlib.compress(bytes(1000)))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + png_chunk(b"IEND", b"")


def png_16_bit_rgb(rgb16: tuple[int, int, int], size: tuple[int, int] = (200, 150)) -> bytes:
    """A 16-bit-per-channel colour PNG (Pillow cannot write one), every pixel ``rgb16``."""
    width, height = size
    row = b"\x00" + np.tile(np.array(rgb16, dtype=">u2"), width).tobytes()
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
    pixels = png_chunk(b"IDAT", zlib.compress(row * height))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + png_chunk(b"IEND", b"")


def idat_offset(png: bytes) -> tuple[int, int]:
    """(start of the first IDAT payload, its length)."""
    kind = png.index(b"IDAT")
    return kind + 4, struct.unpack(">I", png[kind - 4 : kind])[0]


def exif_with(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 (EXIF) segment right after the start-of-image marker."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def half_transparent(mode: str, photo: Image.Image) -> Image.Image:
    """``photo`` whose left half is fully transparent (and black underneath)."""
    rgba = photo.convert("RGBA")
    alpha = np.full((rgba.height, rgba.width), 255, dtype=np.uint8)
    alpha[:, : rgba.width // 2] = 0
    pixels = np.asarray(rgba).copy()
    pixels[:, : rgba.width // 2, :3] = 0
    pixels[..., 3] = alpha
    return Image.fromarray(pixels).convert(mode)


def palette_with_transparency(photo: Image.Image) -> bytes:
    """A palette PNG whose index 255 is transparent and paints the left half."""
    indexed = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    palette = indexed.getpalette() or []
    indexed.putpalette(palette + [0, 0, 0] * (256 - len(palette) // 3))  # index 255: black, transparent
    indexed.paste(255, (0, 0, photo.width // 2, photo.height))
    return encode(indexed, "PNG", transparency=255)


def quadrants(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """Four plain colours, so any wrong turn or mirror shows in the result."""
    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2, : width // 2] = (255, 0, 0)
    pixels[: height // 2, width // 2 :] = (0, 255, 0)
    pixels[height // 2 :, : width // 2] = BLUE
    pixels[height // 2 :, width // 2 :] = (255, 255, 0)
    return Image.fromarray(pixels)


def build_corpus() -> dict[str, bytes]:
    chelsea = Image.fromarray(skimage_data.chelsea())  # 451 x 300
    coffee = Image.fromarray(skimage_data.coffee())  # 600 x 400
    astronaut = Image.fromarray(skimage_data.astronaut())  # 512 x 512
    rocket = Image.fromarray(skimage_data.rocket())  # 640 x 427
    camera = Image.fromarray(skimage_data.camera())  # 512 x 512, grey
    blue = Image.new("RGB", chelsea.size, BLUE)

    jpeg = encode(chelsea, "JPEG", quality=90)
    png = encode(coffee, "PNG")
    large = encode(coffee.resize((3600, 2400), Image.Resampling.BILINEAR), "JPEG", quality=90)
    start, length = idat_offset(png)
    bad_crc = bytearray(png)
    bad_crc[start + length] ^= 0xFF
    broken_data = bytearray(png)
    broken_data[start + 200 : start + 260] = bytes(60)
    broken_data[start + length : start + length + 4] = struct.pack(
        ">I", zlib.crc32(bytes(broken_data[start - 4 : start + length]))
    )
    bad_header_crc = bytearray(png)
    bad_header_crc[29] ^= 0xFF  # the IHDR checksum

    corpus = {
        # Bad files.
        "zero-byte.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated-progressive.jpg": (prog := encode(chelsea, "JPEG", progressive=True))[: len(prog) // 2],
        "truncated-large.jpg": large[: len(large) * 3 // 4],
        "header-only.jpg": jpeg[:300],
        "truncated.png": png[: len(png) // 2],
        "truncated.gif": (gif := encode(chelsea.convert("P"), "GIF"))[: len(gif) // 2],
        "truncated.webp": (webp := encode(chelsea, "WEBP"))[: len(webp) // 2],
        "page.html": b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>gone</body></html>",
        "error.txt": b"Service temporarily unavailable. Please try again later.\n",
        "api-error.json": b'{"stat": "fail", "code": 105, "message": "Service currently unavailable"}',
        "drawing.svg": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "bomb.png": png_claiming(100_000, 100_000),
        "strip.png": png_claiming(70_000, 100),
        "too-small.png": encode(chelsea.resize((40, 60)), "PNG"),
        "thin.png": encode(camera.resize((1, 5000)), "PNG"),
        "random.bin": np.random.default_rng(0).bytes(4096),
        "bad-crc.png": bytes(bad_crc),
        "bad-header-crc.png": bytes(bad_header_crc),
        "broken-data.png": bytes(broken_data),
        "icon.ico": encode(chelsea, "ICO"),
        "targa.tga": encode(chelsea, "TGA"),
        "document.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "phone.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200),
        "float.tif": encode(Image.fromarray(np.asarray(camera, dtype=np.float32) / 255), "TIFF"),
        # Good files.
        "photo.jpg": jpeg,
        "progressive.jpg": prog,
        "large.jpg": large,
        "portrait.jpg": encode(rocket.transpose(Image.Transpose.ROTATE_90), "JPEG"),
        "photo.png": png,
        "png-named.jpg": png,
        "grey.jpg": encode(camera, "JPEG"),
        "grey.png": encode(camera, "PNG"),
        "cmyk.jpg": encode(chelsea.convert("CMYK"), "JPEG", quality=95),
        "sixteen-bit.png": encode(Image.fromarray(np.full((150, 200), 32768, dtype=np.uint16)), "PNG"),
        "sixteen-bit-photo.png": encode(Image.fromarray(np.asarray(camera, dtype=np.uint16) * 257), "PNG"),
        "sixteen-bit-rgb.png": png_16_bit_rgb((65535, 32768, 0)),
        "palette.png": encode(astronaut.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "palette-transparent.png": palette_with_transparency(astronaut),
        "rgba.png": encode(half_transparent("RGBA", chelsea), "PNG"),
        "la.png": encode(half_transparent("LA", chelsea), "PNG"),
        "one-bit.png": encode(camera.convert("1"), "PNG"),
        "animated.gif": encode(chelsea.convert("P"), "GIF", save_all=True, append_images=[blue.convert("P")]),
        "animated.webp": encode(chelsea, "WEBP", save_all=True, append_images=[blue], quality=90),
        "animated.png": encode(chelsea, "PNG", save_all=True, append_images=[blue]),
        "multi-page.tif": encode(chelsea, "TIFF", save_all=True, append_images=[blue]),
        "multi-picture.jpg": encode(chelsea, "MPO", save_all=True, append_images=[blue]),
        "photo.bmp": encode(rocket, "BMP"),
        "photo.tif": encode(rocket, "TIFF"),
        "photo.webp": encode(rocket, "WEBP", quality=90),
        "smallest.png": encode(chelsea.resize((75, 75)), "PNG"),
        "small.jpg": encode(chelsea.resize((100, 80)), "JPEG"),
        "trailing-garbage.jpg": jpeg + b"garbage after the end-of-image marker" * 20,
        "corrupt-exif.jpg": with_app1(
            jpeg, b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08\x00\x05" + b"\xff" * 20
        ),
        "garbage-exif.jpg": with_app1(jpeg, b"Exif\x00\x00this is not a TIFF header"),
        "metadata.jpg": encode(
            chelsea, "JPEG", exif=Image.Exif(), comment=b"shot by someone", icc_profile=b"\x00" * 128
        ),
        "png-exif-6.png": encode(quadrants(), "PNG", exif=exif_with(6)),
    }
    if features.check("avif"):
        corpus["photo.avif"] = encode(rocket, "AVIF", quality=70)
    for orientation in range(1, 9):
        corpus[f"orientation-{orientation}.jpg"] = encode(quadrants(), "JPEG", exif=exif_with(orientation))
    return corpus


BAD = {
    "zero-byte.jpg": "empty file",
    "truncated.jpg": "truncated JPEG",
    "truncated-progressive.jpg": "truncated JPEG",
    "truncated-large.jpg": "truncated JPEG",
    "header-only.jpg": "truncated JPEG",
    "truncated.png": "truncated PNG",
    "truncated.gif": "truncated GIF",
    "truncated.webp": "truncated WEBP",
    "page.html": "HTML page, not an image",
    "error.txt": "plain text, not an image",
    "api-error.json": "JSON document, not an image",
    "drawing.svg": "SVG drawing",
    "bomb.png": "decompression bomb",
    "strip.png": "absurd dimensions: 70000 x 100",
    "too-small.png": "too small: 40 x 60",
    "thin.png": "too small: 1 x 5000",
    "random.bin": "unknown format",
    "bad-crc.png": "PNG chunk IDAT fails its CRC check",
    "bad-header-crc.png": "corrupt or truncated PNG",
    "broken-data.png": "corrupt PNG data",
    "icon.ico": "unsupported format ICO",
    "targa.tga": "unsupported format TGA",
    "document.pdf": "unsupported format PDF",
    "phone.heic": "unsupported format HEIC",
    "float.tif": "floating-point pixels",
}
GOOD = [
    "photo.jpg",
    "progressive.jpg",
    "large.jpg",
    "portrait.jpg",
    "photo.png",
    "png-named.jpg",
    "grey.jpg",
    "grey.png",
    "cmyk.jpg",
    "sixteen-bit.png",
    "sixteen-bit-photo.png",
    "sixteen-bit-rgb.png",
    "palette.png",
    "palette-transparent.png",
    "rgba.png",
    "la.png",
    "one-bit.png",
    "animated.gif",
    "animated.webp",
    "animated.png",
    "multi-page.tif",
    "multi-picture.jpg",
    "photo.bmp",
    "photo.tif",
    "photo.webp",
    "smallest.png",
    "small.jpg",
    "trailing-garbage.jpg",
    "corrupt-exif.jpg",
    "garbage-exif.jpg",
    "metadata.jpg",
    "png-exif-6.png",
    "photo.avif",
    *(f"orientation-{orientation}.jpg" for orientation in range(1, 9)),
]
FLAGS = {
    "photo.jpg": (),
    "grey.jpg": ("grayscale",),
    "cmyk.jpg": ("cmyk",),
    "sixteen-bit.png": ("16-bit", "grayscale"),
    "sixteen-bit-rgb.png": ("16-bit",),
    "palette.png": ("palette",),
    "palette-transparent.png": ("palette", "alpha"),
    "rgba.png": ("alpha",),
    "la.png": ("grayscale", "alpha"),
    "one-bit.png": ("grayscale", "1-bit"),
    "animated.gif": ("animated", "palette"),
    "animated.webp": ("animated",),
    "animated.png": ("animated",),
    "multi-page.tif": ("multi-page",),
    "multi-picture.jpg": ("multi-page",),
    "orientation-1.jpg": (),
    "orientation-6.jpg": ("exif-oriented",),
    "png-exif-6.png": ("exif-oriented",),
    "corrupt-exif.jpg": ("corrupt-exif",),
    "garbage-exif.jpg": ("corrupt-exif",),
    "trailing-garbage.jpg": ("trailing-data",),
}


@pytest.fixture(scope="session")
def corpus() -> dict[str, bytes]:
    return build_corpus()


@pytest.fixture(scope="session")
def prepared(corpus) -> Callable[[str], PreparedImage]:
    """``prepared(name)``: ``prepare`` of a good corpus file, computed once per session."""
    cache: dict[str, PreparedImage] = {}

    def get(name: str) -> PreparedImage:
        if name not in corpus:
            pytest.skip(f"{name} cannot be made with this Pillow build")
        if name not in cache:
            cache[name] = prepare(corpus[name], name=name)
        return cache[name]

    return get


def opened(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(opened(jpeg), dtype=np.int16)


def jpeg_markers(jpeg: bytes) -> list[int]:
    """Marker bytes of the segments before the image data (0xE0 = APP0, 0xE1 = EXIF, 0xFE = comment)."""
    markers, pos = [], 2
    while jpeg[pos] == 0xFF and jpeg[pos + 1] != 0xDA:
        markers.append(jpeg[pos + 1])
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    return markers


def plain_size(data: bytes) -> tuple[int, int]:
    """The 500 rendition's size by a plain full decode + exif_transpose, written independently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corpus's corrupt EXIF blocks
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    width, height = image.size
    longer = max(width, height)
    return (500, round(height * 500 / longer)) if width >= height else (round(width * 500 / longer), 500)


# --------------------------------------------------------------------------------------------------
# Bad files.


def test_corpus_has_at_least_30_problem_files(corpus):
    assert len(corpus) >= 30


@pytest.mark.parametrize(("name", "reason"), BAD.items(), ids=list(BAD))
def test_bad_file_raises_image_error_naming_the_problem(corpus, name, reason):
    with pytest.raises(ImageError) as caught:
        prepare(corpus[name], name=name)
    assert reason in caught.value.what


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_error_names_the_file_and_a_fix(corpus, name):
    with pytest.raises(ImageError) as caught:
        prepare(corpus[name], name=name)
    assert caught.value.where == name and caught.value.fix


@pytest.mark.parametrize("name", ["truncated.jpg", "truncated.png", "truncated-large.jpg"])
def test_truncation_is_caught_even_when_pillow_is_told_to_load_truncated_images(corpus, name, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError, match="truncated"):
        prepare(corpus[name])


def test_loading_truncated_images_setting_is_restored(corpus, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError):
        prepare(corpus["truncated.jpg"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_max_pixels_refuses_a_real_image_over_the_limit(corpus):
    with pytest.raises(ImageError, match="decompression bomb: 600 x 400 = 240,000 pixels"):
        prepare(corpus["photo.png"], max_pixels=100_000)


def test_max_pixels_is_checked_before_any_pixel_is_decoded():
    claims_20_megapixels = png_claiming(5000, 4000)  # its pixel data would fail to decode
    with pytest.raises(ImageError, match="decompression bomb"):
        prepare(claims_20_megapixels, max_pixels=1_000_000)


def test_min_side_px_is_configurable(corpus):
    with pytest.raises(ImageError, match="shorter side is under 400 px"):
        prepare(corpus["photo.jpg"], min_side_px=400)


def test_error_is_an_image_error_not_a_pillow_error(corpus):
    with pytest.raises(ImageError) as caught:
        prepare(corpus["truncated.jpg"])
    assert isinstance(caught.value.__cause__, OSError)


# --------------------------------------------------------------------------------------------------
# Good files: renditions.


@pytest.mark.parametrize("name", GOOD)
def test_500_rendition_has_a_longer_side_of_exactly_500_px(prepared, name):
    assert max(opened(prepared(name).renditions["500"]).size) == 500


@pytest.mark.parametrize("name", GOOD)
def test_500_rendition_size_equals_a_plain_full_decode(corpus, prepared, name):
    assert opened(prepared(name).renditions["500"]).size == plain_size(corpus[name])


@pytest.mark.parametrize("name", GOOD)
def test_256_rendition_is_256_by_256(prepared, name):
    assert opened(prepared(name).renditions["256"]).size == (256, 256)


@pytest.mark.parametrize("name", GOOD)
def test_renditions_are_rgb_jpegs(prepared, name):
    images = [opened(data) for data in prepared(name).renditions.values()]
    assert [(image.format, image.mode) for image in images] == [("JPEG", "RGB")] * 2


@pytest.mark.parametrize("name", GOOD)
def test_renditions_carry_no_metadata(prepared, name):
    for data in prepared(name).renditions.values():
        assert set(jpeg_markers(data)) <= {0xE0, 0xDB, 0xC0, 0xC4}  # JFIF, tables, frame header
        assert not {"exif", "icc_profile", "comment"} & set(opened(data).info)


@pytest.mark.parametrize("name", GOOD)
def test_same_input_gives_byte_identical_renditions(corpus, prepared, name):
    assert prepare(corpus[name], name=name) == prepared(name)


@pytest.mark.parametrize("name", GOOD)
def test_reported_size_is_the_oriented_original_size(corpus, prepared, name):
    result = prepared(name)
    assert rendition_size(result.width, result.height) == plain_size(corpus[name])


@pytest.mark.parametrize(("name", "flags"), FLAGS.items(), ids=list(FLAGS))
def test_flags_name_what_was_unusual(prepared, name, flags):
    assert prepared(name).flags == flags


def test_sha256_is_of_the_original_bytes(corpus, prepared):
    assert prepared("photo.jpg").sha256 == hashlib.sha256(corpus["photo.jpg"]).hexdigest()


def test_format_is_detected_from_content_not_name(prepared):
    assert prepared("png-named.jpg").format == "PNG"


def test_multi_picture_jpeg_counts_as_jpeg(prepared):
    assert prepared("multi-picture.jpg").format == "JPEG"


def test_small_image_is_upscaled_to_500_px(prepared):
    assert opened(prepared("small.jpg").renditions["500"]).size == (500, 400)


def test_image_at_the_minimum_side_is_accepted(prepared):
    assert (prepared("smallest.png").width, prepared("smallest.png").height) == (75, 75)


def test_large_jpeg_keeps_its_full_size_in_the_report(prepared):
    assert (prepared("large.jpg").width, prepared("large.jpg").height) == (3600, 2400)


def test_large_jpeg_renditions_look_like_a_full_decode(corpus, prepared):
    full = Image.open(io.BytesIO(corpus["large.jpg"])).convert("RGB")
    expected = np.asarray(full.resize((500, 333), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(pixels(prepared("large.jpg").renditions["500"]) - expected).mean() < 3


def test_jpeg_quality_sets_the_rendition_quality(corpus, prepared):
    low = prepare(corpus["photo.jpg"], jpeg_quality=30)
    assert len(low.renditions["500"]) < len(prepared("photo.jpg").renditions["500"]) / 2


def test_prepared_image_pickles_for_worker_processes(prepared):
    assert pickle.loads(pickle.dumps(prepared("photo.jpg"))) == prepared("photo.jpg")


# --------------------------------------------------------------------------------------------------
# Good files: colour.


@pytest.mark.parametrize("name", ["rgba.png", "la.png", "palette-transparent.png"])
def test_transparent_pixels_become_white(prepared, name):
    left = pixels(prepared(name).renditions["500"])[:, 10:200]
    assert left.min() >= WHITE_MIN


def test_opaque_pixels_keep_their_colour_next_to_transparent_ones(corpus, prepared):
    right = pixels(prepared("rgba.png").renditions["500"])[:, 300:]
    photo = np.asarray(Image.fromarray(skimage_data.chelsea()).resize((500, 333)), dtype=np.int16)[:, 300:]
    assert np.abs(right - photo).mean() < 6


def test_sixteen_bit_grey_is_scaled_not_clipped(prepared):
    assert abs(pixels(prepared("sixteen-bit.png").renditions["500"]).mean() - 128) < 2


def test_sixteen_bit_colour_keeps_its_colour(prepared):
    red, green, blue = pixels(prepared("sixteen-bit-rgb.png").renditions["500"]).mean(axis=(0, 1))
    assert red > 250 and abs(green - 128) < 3 and blue < 5


def test_cmyk_is_converted_to_matching_rgb(prepared):
    photo = np.asarray(Image.fromarray(skimage_data.chelsea()).resize((500, 333)), dtype=np.int16)
    assert np.abs(pixels(prepared("cmyk.jpg").renditions["500"]) - photo).mean() < 6


def test_grey_image_becomes_three_equal_channels(prepared):
    image = pixels(prepared("grey.png").renditions["500"])
    assert np.abs(image[..., 0] - image[..., 2]).max() <= 2


@pytest.mark.parametrize("name", ["animated.gif", "animated.webp", "animated.png", "multi-page.tif"])
def test_first_frame_is_used(prepared, name):
    photo = np.asarray(Image.fromarray(skimage_data.chelsea()).resize((500, 333)), dtype=np.int16)
    assert np.abs(pixels(prepared(name).renditions["500"]) - photo).mean() < 12  # GIF has 256 colours


# --------------------------------------------------------------------------------------------------
# Orientation.


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_exif_transpose(corpus, prepared, orientation):
    name = f"orientation-{orientation}.jpg"
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(corpus[name]))).convert("RGB")
    expected = np.asarray(
        reference.resize(plain_size(corpus[name]), Image.Resampling.LANCZOS), dtype=np.int16
    )
    assert np.abs(pixels(prepared(name).renditions["500"]) - expected).mean() < 4


def test_orientation_6_turns_a_landscape_photo_portrait(prepared):
    result = prepared("orientation-6.jpg")
    assert (result.width, result.height) == (200, 300)
    assert opened(result.renditions["500"]).size == (333, 500)


def test_png_exif_orientation_is_applied(prepared):
    assert opened(prepared("png-exif-6.png").renditions["500"]).size == (333, 500)


def test_corrupt_exif_leaves_the_image_unturned(prepared):
    assert opened(prepared("corrupt-exif.jpg").renditions["500"]).size == (500, 333)


# --------------------------------------------------------------------------------------------------
# Trailing data, rendition_size, decode.


def test_trailing_garbage_gives_the_same_renditions_as_the_clean_jpeg(prepared):
    assert prepared("trailing-garbage.jpg").renditions == prepared("photo.jpg").renditions


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (500, 375)),
        ((3000, 4000), (375, 500)),
        ((451, 300), (500, 333)),
        ((80, 80), (500, 500)),
    ],
)
def test_rendition_size_scales_the_longer_side_to_500(size, expected):
    assert rendition_size(*size) == expected


def test_rendition_size_is_never_below_one_px():
    assert rendition_size(10_000, 1) == (500, 1)


def test_decode_returns_oriented_rgb(corpus):
    image = decode(corpus["orientation-6.jpg"])
    assert (image.mode, image.size) == ("RGB", (200, 300))


def test_decode_at_least_px_reduces_a_large_jpeg_but_not_below(corpus):
    image = decode(corpus["large.jpg"], at_least_px=(224, 224))
    assert image.size == (450, 300)


def test_decode_refuses_what_prepare_refuses(corpus):
    with pytest.raises(ImageError, match="HTML page"):
        decode(corpus["page.html"])
