"""Decode, validate and render candidate images: pure functions on bytes.

Whatever a search engine hands us is untrusted: HTML error pages served as ``.jpg``, half-downloaded
files, decompression bombs, CMYK scans, animated GIFs, phone photos that are stored sideways with
an EXIF orientation tag. ``prepare`` turns such bytes into what ImageNetV2's downloader stored
(``download_images_from_flickr.py``): the image oriented and made RGB, then a JPEG (quality 90) whose
longer side is exactly 500 px (small images are *up*-scaled; this is what crowd workers see) and a
256 x 256 JPEG with the aspect ratio *not* kept (for near-duplicate search). The original bytes are
stored as they came, so they are not re-encoded here. Every file we cannot use raises
:class:`~heldout.errors.ImageError` saying why and what to do, so a bad download is a row in a
report rather than a crash or, worse, a silently broken image.

Decisions worth knowing:

* The format is sniffed from the content; a file's name or extension never matters.
* Only photo formats are accepted (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF). Pillow can read many
  more (ICO, PSD, TGA, ...), but none of them are photos a search engine returns and each extra
  decoder is attack surface, so they are rejected as unsupported.
* Truncated files are errors even where Pillow could paint the missing part grey; a PNG whose
  chunk checksum fails is an error too (Pillow skips the IDAT checksums), because both mean the
  download is damaged.
* Bytes after a JPEG's end-of-image marker are accepted and flagged ``trailing-data``: cameras
  and phones append maker data there, the picture itself is complete.
* Animated and multi-page files use their first frame (flagged); transparency is composited on
  white; 16-bit images keep their full range (Pillow's own ``I;16`` to ``L`` conversion clips).
* Renditions carry no metadata at all (no EXIF, ICC profile or comment): they are already
  oriented, and they are shown to strangers. ICC profiles are dropped, not applied, as ImageNetV2
  did.
* JPEGs are decoded with libjpeg's DCT scaling (``Image.draft``) at the smallest scale that is
  still at least as large as the renditions, then resized with LANCZOS. Rendition *sizes* are always
  computed from the full oriented size, so they equal a plain full decode's.

Everything here is a top-level function or a frozen dataclass, so the ingest stage can run it in
worker processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from heldout.errors import ImageError

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_SIDE_PX",
    "RENDITION_256_PX",
    "RENDITION_500_PX",
    "PreparedImage",
    "decode",
    "prepare",
    "rendition_size",
]

RENDITION_500_PX = 500
"""Longer side of the rendition crowd workers see."""
RENDITION_256_PX = 256
"""Both sides of the square rendition near-duplicate search uses."""
MAX_SIDE_PX = 65_535
"""Longest side accepted: JPEG's own limit; anything longer is a strip, not a photo."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
"""Formats (Pillow's names) that ``prepare`` accepts; a multi-picture JPEG (MPO) counts as JPEG."""

_RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 3.0
_ORIENTATION = ExifTags.Base.Orientation
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> transposition, the table ``PIL.ImageOps.exif_transpose`` uses."""
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_GRAY_MODES = ("1", "L", "LA", "La", *_SIXTEEN_BIT_MODES)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (_PNG_SIGNATURE, "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    *((header, "TIFF") for header in _TIFF_HEADERS),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
_FTYP_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}
_FIX_REDOWNLOAD = "download the file again; if it keeps failing, skip this candidate"
_FIX_CONVERT = "convert it to JPEG or PNG, or skip this candidate"


@dataclass(frozen=True)
class PreparedImage:
    """A validated image: its identity, oriented size, renditions and what was unusual about it.

    ``renditions`` maps ``"500"`` and ``"256"`` to JPEG bytes; the ``"original"`` rendition is the
    input bytes themselves, which the caller stores. ``flags`` name what was unusual (``animated``,
    ``multi-page``, ``cmyk``, ``16-bit``, ``palette``, ``grayscale``, ``1-bit``, ``alpha``,
    ``exif-oriented``, ``corrupt-exif``, ``trailing-data``) in that fixed order.
    """

    sha256: str
    format: str
    width: int
    height: int
    renditions: dict[str, bytes] = field(hash=False)
    flags: tuple[str, ...] = ()


def prepare(
    data: bytes,
    *,
    name: str = "",
    min_side_px: int = 75,
    max_pixels: int = 178_956_970,
    jpeg_quality: int = 90,
) -> PreparedImage:
    """Validate ``data`` and render the 500 px and 256 x 256 JPEGs ImageNetV2 stored.

    ``name`` only labels errors. Images whose shorter side is under ``min_side_px`` are too small to
    label; more than ``max_pixels`` pixels is treated as a decompression bomb and refused before
    anything is decoded (``ImagesConfig`` holds the project's values).
    """
    where = name or None
    with _strict_loading():
        image, fmt, flags = _open(data, where=where, max_pixels=max_pixels)
        stored_size = image.size
        _check_min_side(stored_size, min_side_px, where=where)  # turning keeps the shorter side
        draft_px = _at_least_256(rendition_size(*stored_size))
        rgb, orientation = _decode_rgb(image, flags, draft_px=draft_px, where=where)
    width, height = _oriented_size(stored_size, orientation)
    renditions = {
        "500": _jpeg(_resize(rgb, rendition_size(width, height)), jpeg_quality),
        "256": _jpeg(_resize(rgb, (RENDITION_256_PX, RENDITION_256_PX)), jpeg_quality),
    }
    sha256 = hashlib.sha256(data).hexdigest()
    return PreparedImage(sha256, fmt, width, height, renditions, _ordered(flags))


def decode(
    data: bytes,
    *,
    name: str = "",
    max_pixels: int = 178_956_970,
    at_least_px: tuple[int, int] | None = None,
) -> Image.Image:
    """The image in ``data`` as an oriented RGB ``PIL.Image``, validated as ``prepare`` does.

    There is no minimum size here: later stages read what ingest already accepted. With
    ``at_least_px=(width, height)`` a JPEG may be decoded at a reduced scale whose shorter side is
    still at least the larger of the two, which is much faster when the caller resizes anyway.
    """
    where = name or None
    draft_px = None if at_least_px is None else (max(at_least_px),) * 2  # holds either way round
    with _strict_loading():
        image, _, flags = _open(data, where=where, max_pixels=max_pixels)
        return _decode_rgb(image, flags, draft_px=draft_px, where=where)[0]


def rendition_size(width: int, height: int) -> tuple[int, int]:
    """Size of the "500" rendition of an oriented ``width`` x ``height`` image.

    The longer side becomes exactly 500 px, the other ``round(other * 500 / longer)`` (never below
    1 px), so a plain full decode and a draft decode give the same size.
    """
    longer = max(width, height)
    if width >= height:
        return RENDITION_500_PX, max(1, round(height * RENDITION_500_PX / longer))
    return max(1, round(width * RENDITION_500_PX / longer)), RENDITION_500_PX


# --------------------------------------------------------------------------------------------------
# Opening: identify the format and check the header before any pixel is decoded.


@contextlib.contextmanager
def _strict_loading() -> Iterator[None]:
    """Make Pillow raise on truncated data even if someone set ``LOAD_TRUNCATED_IMAGES`` globally.

    The flag is module state in Pillow, so this is per process, not per thread: ingest runs
    ``prepare`` in worker processes, where nothing else decodes at the same time.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _open(data: bytes, *, where: str | None, max_pixels: int) -> tuple[Image.Image, str, set[str]]:
    """Identify ``data`` and check its header; returns the lazily opened image, format and flags."""
    if not data:
        raise ImageError("empty file (0 bytes)", where=where, fix=_FIX_REDOWNLOAD)
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Recorded, not shown: we compare against max_pixels ourselves, below, before anything
            # is decoded, and Pillow's JPEG opener parses EXIF (for dpi) and warns if it is damaged.
            warnings.simplefilter("always")
            image = Image.open(io.BytesIO(data), formats=_readable_formats())
    except Image.DecompressionBombError as exc:
        raise _bomb_error(str(exc), where) from exc
    except UnidentifiedImageError as exc:
        raise _unidentified_error(data, where) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        kind = _sniff_magic(data) or "image"
        raise ImageError(f"corrupt or truncated {kind}: {exc}", where=where, fix=_FIX_REDOWNLOAD) from exc
    fmt = "JPEG" if image.format == "MPO" else str(image.format)
    _check_dimensions(image.size, max_pixels, where=where)
    if fmt == "PNG":
        _check_png_checksums(data, where=where)
    flags = _flags(image, fmt, data, where=where)
    if any("exif" in str(warning.message).lower() for warning in caught):
        flags.add("corrupt-exif")
    return image, fmt, flags


@functools.cache
def _readable_formats() -> tuple[str, ...]:
    """The accepted formats this Pillow build can read (AVIF needs libavif); MPO opens as JPEG."""
    Image.init()
    return tuple(fmt for fmt in ACCEPTED_FORMATS if fmt in Image.OPEN)


def _bomb_error(detail: str, where: str | None) -> ImageError:
    return ImageError(
        f"decompression bomb: {detail}",
        where=where,
        fix="skip this candidate; raise images.max_pixels only for a source you trust",
    )


def _check_dimensions(size: tuple[int, int], max_pixels: int, *, where: str | None) -> None:
    """Refuse bombs and absurd strips from the header alone, before decoding allocates anything."""
    width, height = size
    if width * height > max_pixels:
        detail = f"{width} x {height} = {width * height:,} pixels, more than the limit of {max_pixels:,}"
        raise _bomb_error(detail, where)
    if max(width, height) > MAX_SIDE_PX:
        raise ImageError(
            f"absurd dimensions: {width} x {height}, a side is longer than {MAX_SIDE_PX} px",
            where=where,
            fix="skip this candidate; no photo is that long",
        )


def _check_min_side(size: tuple[int, int], min_side_px: int, *, where: str | None) -> None:
    width, height = size
    if min(width, height) < min_side_px:
        raise ImageError(
            f"too small: {width} x {height}, the shorter side is under {min_side_px} px",
            where=where,
            fix="skip this candidate, or lower images.min_side_px",
        )


def _check_png_checksums(data: bytes, *, where: str | None) -> None:
    """Verify every PNG chunk's CRC; Pillow skips those of the pixel data (IDAT)."""
    view = memoryview(data)
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(view[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(data):
            return  # truncated: decoding reports it
        chunk = bytes(view[pos + 4 : pos + 8])
        if zlib.crc32(view[pos + 4 : end]) != int.from_bytes(view[end : end + 4], "big"):
            kind = chunk.decode("latin-1")
            raise ImageError(
                f"PNG chunk {kind} fails its CRC check: the file is damaged", where=where, fix=_FIX_REDOWNLOAD
            )
        if chunk == b"IEND":
            return
        pos = end + 4


def _flags(image: Image.Image, fmt: str, data: bytes, *, where: str | None) -> set[str]:
    """What is unusual about the file, from its header (the first frame is what gets used)."""
    flags = set()
    if _has_several_frames(image, where=where):
        flags.add("multi-page" if fmt in ("TIFF", "JPEG") else "animated")
    mode = image.mode
    flags.update(
        flag
        for flag, present in (
            ("cmyk", mode == "CMYK"),
            ("16-bit", mode in _SIXTEEN_BIT_MODES or _is_16_bit_png(data)),
            ("palette", mode in ("P", "PA")),
            ("grayscale", mode in _GRAY_MODES),
            ("1-bit", mode == "1"),
            ("alpha", mode in _ALPHA_MODES or "transparency" in image.info),
            ("trailing-data", fmt == "JPEG" and not data.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")),
        )
        if present
    )
    return flags


def _has_several_frames(image: Image.Image, *, where: str | None) -> bool:
    """Whether there is a second frame or page; leaves the image at its first one."""
    try:
        several = bool(getattr(image, "is_animated", False))
        image.seek(0)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt frame table: {exc}", where=where, fix=_FIX_REDOWNLOAD) from exc
    return several


def _is_16_bit_png(data: bytes) -> bool:
    """Pillow opens 16-bit colour PNGs as 8-bit RGB; the IHDR bit depth (byte 24) tells."""
    return data.startswith(_PNG_SIGNATURE) and len(data) > 24 and data[24] == 16


def _orientation(image: Image.Image, flags: set[str]) -> int:
    """The EXIF orientation (1-8) to apply, as ``ImageOps.exif_transpose`` would read it.

    Damaged EXIF adds ``corrupt-exif``; a readable orientation in it is still applied (phones write
    maker notes Pillow warns about), an unreadable one counts as 1. Called after decoding: a PNG
    may keep its EXIF after the pixel data.
    """
    orientation = _exif_orientation(image, flags)
    if orientation != 1:
        flags.add("exif-oriented")
    return orientation


def _exif_orientation(image: Image.Image, flags: set[str]) -> int:
    raw = image.info.get("exif")
    if isinstance(raw, bytes) and not raw.removeprefix(b"Exif\x00\x00").startswith(_TIFF_HEADERS):
        flags.add("corrupt-exif")
        return 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            orientation = image.getexif().get(_ORIENTATION, 1)
        except Exception:  # Pillow's EXIF parser raises many types on garbage; EXIF is optional
            flags.add("corrupt-exif")
            return 1
    if caught:
        flags.add("corrupt-exif")
    if not isinstance(orientation, int) or orientation not in range(1, 9):
        flags.add("corrupt-exif")
        return 1
    return orientation


def _at_least_256(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest decode serving both renditions: the 500 one, and 256 px on each side.

    Why not twice that, as ``Image.thumbnail`` drafts? libjpeg's scaled IDCT is a proper low-pass:
    on benchmarks/ingest.py's camera-size photos the 500 rendition is 39 dB PSNR (36 at worst)
    from a full decode + LANCZOS, as close as the quality-90 encode itself (39, 36 at worst);
    decoding at twice the size gets 42 dB for 1.7 times the CPU time.
    """
    return max(size[0], RENDITION_256_PX), max(size[1], RENDITION_256_PX)


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Orientations 5-8 turn the image by 90 degrees, swapping width and height."""
    return (size[1], size[0]) if orientation >= 5 else size


def _ordered(flags: set[str]) -> tuple[str, ...]:
    order = (
        "animated",
        "multi-page",
        "cmyk",
        "16-bit",
        "palette",
        "grayscale",
        "1-bit",
        "alpha",
        "exif-oriented",
        "corrupt-exif",
        "trailing-data",
    )
    return tuple(flag for flag in order if flag in flags)


# --------------------------------------------------------------------------------------------------
# Telling the user what a file is when it is not an image we accept.


def _unidentified_error(data: bytes, where: str | None) -> ImageError:
    """Name what the bytes are (web page, JSON, text, another format) instead of "cannot identify"."""
    kind = _sniff_text(data)
    if kind:
        return ImageError(
            f"{kind}, not an image: the server did not send a picture",
            where=where,
            fix="check the URL; error and login pages often come back with status 200",
        )
    kind = _sniff_magic(data)
    if kind in ACCEPTED_FORMATS:
        what = f"corrupt or truncated {kind}: Pillow cannot parse its header"
        return ImageError(what, where=where, fix=_FIX_REDOWNLOAD)
    kind = kind or _pillow_format(data)
    if kind:
        return ImageError(f"unsupported format {kind}", where=where, fix=_FIX_CONVERT)
    return ImageError(
        f"unknown format: {len(data):,} bytes that are not an image (starting {data[:8].hex(' ')})",
        where=where,
        fix=_FIX_REDOWNLOAD,
    )


def _sniff_text(data: bytes) -> str | None:
    """ "HTML page", "SVG drawing", "JSON document" or "plain text" when ``data`` is text."""
    head = data[:4096]
    try:
        text = head.decode("utf-8").lstrip("\ufeff \t\r\n").lower()
    except UnicodeDecodeError:
        return None
    if "<svg" in text:
        return "SVG drawing (unsupported vector format)"
    if text.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in text:
        return "HTML page"
    if text.startswith(("{", "[")) and _is_json(data):
        return "JSON document"
    if "\x00" not in text:
        return "plain text"
    return None


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _sniff_magic(data: bytes) -> str | None:
    """The format a file's first bytes announce, for clearer errors (not for decoding)."""
    if data[8:12] == b"WEBP" and data.startswith(b"RIFF"):
        return "WEBP"
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "ISO media (MP4/HEIF family)")
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def _pillow_format(data: bytes) -> str | None:
    """Pillow's name for formats it reads but we refuse (ICO, PSD, TGA, ...); nothing is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return str(image.format)
    except Exception:  # any failure just means "not a format Pillow knows"
        return None


# --------------------------------------------------------------------------------------------------
# Decoding and rendering.


def _decode_rgb(
    image: Image.Image, flags: set[str], *, draft_px: tuple[int, int] | None, where: str | None
) -> tuple[Image.Image, int]:
    """Decode, at a reduced JPEG scale still at least ``draft_px`` when given, make RGB and orient.

    Returns the image and the EXIF orientation that was applied. ``draft_px`` is in stored (not
    oriented) pixels. Decoding at reduced scale still reads the whole entropy-coded stream, so
    truncation is caught either way.
    """
    if draft_px is not None and image.format in ("JPEG", "MPO"):
        image.draft("RGB", draft_px)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise _bomb_error(str(exc), where) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _decoding_error(exc, image, where) from exc
    orientation = _orientation(image, flags)
    rgb = _to_rgb(image, where=where)
    return (rgb.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else rgb), orientation


def _decoding_error(exc: Exception, image: Image.Image, where: str | None) -> ImageError:
    if "truncated" in str(exc):
        return ImageError(f"truncated {image.format}: {exc}", where=where, fix=_FIX_REDOWNLOAD)
    return ImageError(f"corrupt {image.format} data: {exc}", where=where, fix=_FIX_REDOWNLOAD)


def _to_rgb(image: Image.Image, *, where: str | None) -> Image.Image:
    """RGB the way a viewer shows it: 16-bit scaled (not clipped), transparency over white."""
    if image.mode == "RGB":
        return image
    if image.mode == "F":
        raise ImageError("floating-point pixels (mode F) are not a photo", where=where, fix=_FIX_CONVERT)
    if image.mode in _SIXTEEN_BIT_MODES:
        image = _sixteen_bit_to_l(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ImageError(f"unsupported colour mode {image.mode}", where=where, fix=_FIX_CONVERT) from exc


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """Keep the top 8 of 16 bits; Pillow's own conversion clips everything above 255 to white."""
    values = np.clip(np.asarray(image).astype(np.int64), 0, 0xFFFF)
    return Image.fromarray((values >> 8).astype(np.uint8))


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, _RESAMPLE, reducing_gap=_REDUCING_GAP)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    """Baseline JPEG with no metadata: Pillow would otherwise copy the source's comment over."""
    image.info.clear()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
