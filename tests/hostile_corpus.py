"""The hostile-input corpus: every case is generated here, by code (no binary fixtures).

Each case is one function, decorated with :func:`case`, whose docstring says what the input
is and what smartframe must do with it. ``expect`` is the documented outcome:

* an :class:`~smartframe.errors.InputError` kind: ``smartframe.frame(..., strategy="centre")``
  and ``smartframe.check(..., faces=False)`` raise it (its message names the input and
  contains ``fragment``), and the CLI exits with its code (3) printing exactly one line;
* ``None``: the input is usable: ``frame`` returns an image of exactly :data:`FRAME_SIZE`,
  ``check`` returns a report, the CLI exits 0 (``frame``) and 0 or 1 (``check``).

``verify`` optionally checks more about a successful result (which frame was used,
whether an orientation was applied, that a warning was recorded).

A function with ``variants`` stands for one case per variant (a truncation point, a tag
value): it receives the variant's argument, and each variant carries its own outcome.

The images are small so the whole corpus runs in seconds; the "bombs" only *declare*
huge sizes, which is the point: the limits refuse them from the header.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageCms, features

from smartframe.errors import (
    CorruptImageError,
    ImageTooLargeError,
    InputError,
    NotAnImageError,
)

from conftest import swapped_primaries_profile

#: The size every case is framed to.
FRAME_SIZE = (64, 48)

HAS_AVIF = features.check("avif")


@dataclass(frozen=True)
class Case:
    """One corpus input and its documented outcome."""

    id: str
    make: Callable[[], bytes]
    suffix: str
    expect: type[InputError] | None
    fragment: str | None
    doc: str
    verify: Callable | None = field(default=None, repr=False)

    def data(self) -> bytes:
        return self.make()


CASES: list[Case] = []


def case(*, suffix: str, expect: type[InputError] | None = None, fragment: str | None = None,
         verify: Callable | None = None, variants: dict | None = None, when: bool = True):
    """Register the decorated generator as one case, or one case per variant.

    ``variants`` maps a variant name to ``(argument, expect, fragment)`` or
    ``(argument, expect, fragment, verify)``. ``when=False`` leaves the case out (a codec
    this Pillow lacks).
    """

    def register(function: Callable) -> Callable:
        if not when:
            return function
        doc = " ".join((function.__doc__ or "").split())
        if variants is None:
            CASES.append(Case(function.__name__, function, suffix, expect, fragment, doc, verify))
        else:
            for name, spec in variants.items():
                argument, kind, text, *check = spec
                CASES.append(Case(f"{function.__name__}-{name}", (lambda a=argument: function(a)),
                                  suffix, kind, text, doc, check[0] if check else None))
        return function

    return register


# --- building blocks ---------------------------------------------------------------------------

def photo(width: int = 96, height: int = 64, seed: int = 7) -> Image.Image:
    """A deterministic RGB picture: smooth gradients plus noise (so codecs have real work)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.dstack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1),
                      (x + y) * 255 // max(1, width + height - 2)]).astype(np.int16)
    noise = rng.integers(-20, 21, base.shape, dtype=np.int16)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_raw(width: int, height: int, depth: int, colour_type: int, rows: bytes,
            extra: list[bytes] = (), after: list[bytes] = ()) -> bytes:
    """A PNG built chunk by chunk: ``rows`` are the unfiltered scanlines (filter byte 0
    is added here), ``extra`` chunks go before IDAT, ``after`` chunks after it."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    stride = len(rows) // height if height else 0
    filtered = b"".join(b"\0" + rows[i * stride:(i + 1) * stride] for i in range(height))
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + b"".join(extra)
            + png_chunk(b"IDAT", zlib.compress(filtered)) + b"".join(after) + png_chunk(b"IEND", b""))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, body) chunks of a PNG."""
    chunks, offset = [], 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append((kind, data[offset + 8:offset + 8 + length]))
        offset += 12 + length
    return chunks


def png_join(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(png_chunk(kind, body) for kind, body in chunks)


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments of a JPEG up to its first SOS (marker, body without length), and
    the rest of the file from that SOS marker on."""
    assert data[:2] == b"\xff\xd8"
    segments, offset = [], 2
    while data[offset + 1] != 0xDA:
        marker = data[offset + 1]
        length = struct.unpack(">H", data[offset + 2:offset + 4])[0]
        segments.append((marker, data[offset + 4:offset + 2 + length]))
        offset += 2 + length
    return segments, data[offset:]


def jpeg_join(segments: list[tuple[int, bytes]], rest: bytes) -> bytes:
    body = b"".join(b"\xff" + bytes([marker]) + struct.pack(">H", len(seg) + 2) + seg
                    for marker, seg in segments)
    return b"\xff\xd8" + body + rest


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF header is patched to declare ``width`` x ``height``."""
    segments, rest = jpeg_segments(encode(photo(16, 16), "JPEG"))
    patched = []
    for marker, body in segments:
        if marker == 0xC0:
            body = body[:1] + struct.pack(">HH", height, width) + body[5:]
        patched.append((marker, body))
    return jpeg_join(patched, rest)


TIFF_SHORT, TIFF_LONG, TIFF_RATIONAL, TIFF_ASCII, TIFF_UNDEFINED, TIFF_SSHORT, TIFF_SLONG = 3, 4, 5, 2, 7, 8, 9


def tiff_ifd(entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0, base: int = 8) -> bytes:
    """One little-endian IFD at offset ``base``: entries are (tag, type, count, value bytes);
    values over 4 bytes go in a data area after the IFD."""
    table, data = b"", b""
    data_at = base + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in sorted(entries):
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_at + len(data))
            data += value + b"\0" * (len(value) % 2)
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd) + data


def exif_block(entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0) -> bytes:
    """An EXIF block as JPEG, PNG and WebP carry it: ``Exif\\0\\0`` + a TIFF header + IFD0."""
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + tiff_ifd(entries, next_ifd)


def orientation_exif(kind: int, count: int, value: bytes) -> bytes:
    return exif_block([(0x0112, kind, count, value)])


def tiff_patch(data: bytes, tag: int, value: int) -> bytes:
    """A little-endian TIFF with the first IFD's ``tag`` set to LONG ``value``."""
    assert data[:4] == b"II*\0"
    ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[ifd:ifd + 2])[0]
    out = bytearray(data)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack("<H", data[at:at + 2])[0] == tag:
            out[at + 2:at + 12] = struct.pack("<HII", TIFF_LONG, 1, value)
            return bytes(out)
    raise AssertionError(f"tag {tag} not in the TIFF")


def gif_parts(data: bytes) -> tuple[bytes, bytes]:
    """A single-frame GIF split before its first image descriptor (or extension block)."""
    flags = data[10]
    offset = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[:offset], data[offset:]


def bmp_with_size(width: int, height: int) -> bytes:
    data = bytearray(encode(photo(8, 8), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def webp_riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"WEBP" + b"".join(kind + struct.pack("<I", len(c)) + c + b"\0" * (len(c) % 2) for kind, c in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], 12
    while offset + 8 <= len(data):
        kind, length = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        chunks.append((kind, data[offset + 8:offset + 8 + length]))
        offset += 8 + length + (length % 2)
    return chunks


def webp_vp8x(width: int, height: int, flags: int = 0) -> bytes:
    return bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


def icc_from(profile) -> bytes:
    return ImageCms.ImageCmsProfile(profile).tobytes()


def garble(data: bytes, start: int, end: int, seed: int = 3) -> bytes:
    """``data`` with bytes ``start:end`` replaced by seeded random bytes."""
    rng = np.random.default_rng(seed)
    return data[:start] + rng.integers(0, 256, end - start, dtype=np.uint8).tobytes() + data[end:]


def frame_used(expected_rgb: tuple[int, int, int]) -> Callable:
    """A verify function: the output's centre pixel shows the given colour (within 40)."""

    def verify(result) -> None:
        centre = result.image.getpixel((FRAME_SIZE[0] // 2, FRAME_SIZE[1] // 2))
        assert max(abs(a - b) for a, b in zip(centre, expected_rgb)) <= 40, centre

    return verify


def orientation_applied(value: int) -> Callable:
    def verify(result) -> None:
        assert result.source.orientation == value, result.source.orientation

    return verify


def warned(fragment: str) -> Callable:
    def verify(result) -> None:
        assert any(fragment in note for note in result.notes), result.notes

    return verify


# === the cases ==================================================================================
# --- not an image at all ------------------------------------------------------------------------

@case(suffix=".jpg", expect=NotAnImageError, fragment="empty file")
def empty_file() -> bytes:
    """A zero-byte file named .jpg. NotAnImageError ("empty file"): refused before any
    decoder sees it."""
    return b""


@case(suffix=".png", expect=NotAnImageError, fragment="not an image", variants={
    "png": (".png", NotAnImageError, "not an image"),
    "jpg": (".jpg", NotAnImageError, "not an image"),
    "webp": (".webp", NotAnImageError, "not an image"),
})
def random_bytes(_suffix: str) -> bytes:
    """64 KiB of seeded random bytes with an image extension. NotAnImageError: formats
    are sniffed from the content, never from the name."""
    rng = np.random.default_rng(11)
    return b"\x00" + rng.integers(0, 256, 65535, dtype=np.uint8).tobytes()


@case(suffix=".gif", expect=NotAnImageError, fragment="not an image")
def text_named_gif() -> bytes:
    """A text file named .gif. NotAnImageError."""
    return b"GIF? no: just a line of text that someone renamed.\n" * 20


@case(suffix=".ico", expect=NotAnImageError, fragment="not an image")
def icon_file() -> bytes:
    """A valid Windows icon (a format Pillow reads, smartframe does not accept).
    NotAnImageError: only the documented formats are opened, so no other plugin ever
    parses an upload."""
    return encode(photo(32, 32), "ICO")


@case(suffix=".eps", expect=NotAnImageError, fragment="not an image")
def postscript_file() -> bytes:
    """An EPS header (Pillow would run Ghostscript on it). NotAnImageError, without
    starting any external program."""
    return (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
            b"newpath 0 0 moveto 100 100 lineto stroke\nshowpage\n%%EOF\n")


# --- each format truncated ----------------------------------------------------------------------

def _truncated(fmt: str, params: dict) -> Callable[[str], bytes]:
    data = encode(photo(), fmt, **params)

    def cut(point: str) -> bytes:
        return data[:{"16B": 16, "quarter": len(data) // 4, "half": len(data) // 2,
                      "tail-1": len(data) - 1}[point]]

    return cut


_TRUNCATIONS = {p: (p, CorruptImageError, None) for p in ("16B", "quarter", "half", "tail-1")}


@case(suffix=".jpg", variants=_TRUNCATIONS)
def jpeg_truncated(point: str) -> bytes:
    """A baseline JPEG cut after 16 bytes, at a quarter, at half, and one byte short (the
    EOI marker). CorruptImageError at every point: libjpeg runs out of data."""
    return _truncated("JPEG", {"quality": 90})(point)


@case(suffix=".jpg", variants=_TRUNCATIONS)
def jpeg_progressive_truncated(point: str) -> bytes:
    """A progressive JPEG cut at the same points. CorruptImageError at every point (a
    progressive file cut after its first scans is still refused, not shown blurred)."""
    return _truncated("JPEG", {"quality": 90, "progressive": True})(point)


@case(suffix=".png", variants={**_TRUNCATIONS, "tail-1": ("tail-1", None, None)})
def png_truncated(point: str) -> bytes:
    """A PNG cut after 16 bytes (inside IHDR), at a quarter and at half: CorruptImageError.
    One byte short (the IEND chunk's CRC) every pixel is there: it frames."""
    return _truncated("PNG", {})(point)


@case(suffix=".webp", variants=_TRUNCATIONS)
def webp_truncated(point: str) -> bytes:
    """A lossy WebP cut at each point. CorruptImageError (libwebp refuses a short RIFF)."""
    return _truncated("WEBP", {"quality": 80})(point)


@case(suffix=".webp", variants=_TRUNCATIONS)
def webp_lossless_truncated(point: str) -> bytes:
    """A lossless WebP cut at each point. CorruptImageError."""
    return _truncated("WEBP", {"lossless": True})(point)


@case(suffix=".gif", variants={**_TRUNCATIONS, "tail-1": ("tail-1", None, None)})
def gif_truncated(point: str) -> bytes:
    """A GIF cut after 16 bytes (inside the palette), at a quarter and at half:
    CorruptImageError. Without its last byte (the ';' trailer) every pixel is there: it
    frames."""
    return _truncated("GIF", {})(point)


@case(suffix=".bmp", variants=_TRUNCATIONS)
def bmp_truncated(point: str) -> bytes:
    """A BMP cut at each point. CorruptImageError."""
    return _truncated("BMP", {})(point)


@case(suffix=".tif", variants=_TRUNCATIONS)
def tiff_truncated(point: str) -> bytes:
    """An uncompressed TIFF cut at each point. CorruptImageError."""
    return _truncated("TIFF", {})(point)


@case(suffix=".tif", variants=_TRUNCATIONS)
def tiff_deflate_truncated(point: str) -> bytes:
    """A deflate-compressed TIFF (its IFD sits at the end) cut at each point.
    CorruptImageError: the header is readable only whole."""
    return _truncated("TIFF", {"compression": "tiff_adobe_deflate"})(point)


@case(suffix=".avif", variants=_TRUNCATIONS, when=HAS_AVIF)
def avif_truncated(point: str) -> bytes:
    """An AVIF cut at each point. CorruptImageError."""
    return _truncated("AVIF", {"quality": 60})(point)


# --- a valid header with corrupt data -----------------------------------------------------------

@case(suffix=".png", expect=CorruptImageError, fragment="decode")
def png_idat_garbled() -> bytes:
    """A PNG whose IDAT chunk holds random bytes under a correct CRC. CorruptImageError
    (zlib refuses the stream)."""
    chunks = png_chunks(encode(photo(), "PNG"))
    return png_join([(k, garble(b, 0, len(b)) if k == b"IDAT" else b) for k, b in chunks])


@case(suffix=".png", expect=CorruptImageError, fragment="PNG")
def png_bad_header_crc() -> bytes:
    """A PNG whose IHDR CRC is wrong. CorruptImageError naming the PNG header problem
    (not "not an image": the signature says PNG)."""
    data = bytearray(encode(photo(), "PNG"))
    data[29] ^= 0xFF  # the last byte of IHDR's CRC
    return bytes(data)


@case(suffix=".jpg", expect=None)
def jpeg_scan_garbled() -> bytes:
    """A JPEG whose entropy-coded scan data is random bytes (0xFF stuffed, EOI kept).
    libjpeg decodes noise and warns; the image frames (no decoder can tell noise from a
    picture)."""
    segments, rest = jpeg_segments(encode(photo(), "JPEG", quality=90))
    header_length = struct.unpack(">H", rest[2:4])[0]
    scan = garble(rest, 2 + header_length, len(rest) - 2)
    body = scan[2 + header_length:-2].replace(b"\xff", b"\xff\x00")
    return jpeg_join(segments, scan[:2 + header_length] + body + b"\xff\xd9")


@case(suffix=".gif", expect=CorruptImageError, fragment="broken data stream")
def gif_lzw_garbled() -> bytes:
    """A GIF whose LZW data sub-blocks hold random bytes (block structure kept).
    CorruptImageError: the LZW decoder meets codes it has not defined yet."""
    data = encode(photo(), "GIF")
    head, rest = gif_parts(data)
    # image descriptor (10 bytes) + LZW minimum code size (1); then sub-blocks
    out, offset = bytearray(rest[:11]), 11
    rng = np.random.default_rng(5)
    while rest[offset] != 0:
        size = rest[offset]
        out += bytes([size]) + rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        offset += 1 + size
    return head + bytes(out) + rest[offset:]


@case(suffix=".webp", expect=None)
def webp_bitstream_garbled() -> bytes:
    """A lossy WebP whose VP8 partitions (after the frame header) are random bytes. The
    boolean decoder accepts any bits: it frames, as noise of the right size."""
    chunks = webp_chunks(encode(photo(), "WEBP", quality=80))
    return webp_riff([(k, garble(b, 10, len(b)) if k == b"VP8 " else b) for k, b in chunks])


@case(suffix=".tif", expect=CorruptImageError, fragment="decode")
def tiff_strip_offset_past_end() -> bytes:
    """A TIFF whose StripOffsets points past the end of the file. CorruptImageError."""
    data = encode(photo(), "TIFF")
    return tiff_patch(data, 273, len(data) + 10_000)


@case(suffix=".bmp", expect=CorruptImageError)
def bmp_pixel_offset_past_end() -> bytes:
    """A BMP whose pixel-data offset points past the end of the file. CorruptImageError."""
    data = bytearray(encode(photo(), "BMP"))
    data[10:14] = struct.pack("<I", len(data) + 10_000)
    return bytes(data)


# --- wrong extension ----------------------------------------------------------------------------

@case(suffix=".png", expect=None, variants={
    "jpeg-as-png": ("JPEG", None, None),
    "png-as-jpg": ("PNG", None, None),
    "webp-as-gif": ("WEBP", None, None),
    "gif-as-bmp": ("GIF", None, None),
    "tiff-as-jpg": ("TIFF", None, None),
})
def wrong_extension(fmt: str) -> bytes:
    """A valid image whose file name claims another format (the CLI writes it as .png,
    whatever the format). It frames: the content is sniffed, the name ignored."""
    return encode(photo(), fmt)


# --- decompression bombs and the pixel limit ----------------------------------------------------

@case(suffix=".png", expect=ImageTooLargeError, fragment="max_pixels", variants={
    "50000x50000": ((50000, 50000), ImageTooLargeError, "max_pixels"),
    "just-over-150MP": ((12248, 12248), ImageTooLargeError, "150013504 pixels"),
    "65535x1-times-4000": ((65535, 4000), ImageTooLargeError, "max_pixels"),
})
def png_bomb(size: tuple[int, int]) -> bytes:
    """A 100-byte PNG whose IHDR declares a huge size (one variant just over the default
    max_pixels of 150 MP, below Pillow's own ceiling). ImageTooLargeError from the header:
    nothing is allocated."""
    width, height = size
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


@case(suffix=".gif", expect=ImageTooLargeError, fragment="pixels")
def gif_screen_bomb() -> bytes:
    """A GIF whose logical screen is 50000x50000 around a 1x1 frame. ImageTooLargeError:
    the screen is what gets allocated."""
    head, rest = gif_parts(encode(Image.new("P", (1, 1)), "GIF"))
    head = head[:6] + struct.pack("<HH", 50000, 50000) + head[10:]
    return head + rest


@case(suffix=".gif", expect=ImageTooLargeError, fragment="pixels", variants={
    "frame-50000x50000": ((0, 0, 50000, 50000), ImageTooLargeError, "pixels"),
    "frame-at-60000": ((60000, 60000, 10, 10), ImageTooLargeError, "pixels"),
    "frame-13000x12000": ((0, 0, 13000, 12000), ImageTooLargeError, "max_pixels"),
})
def gif_frame_bomb(extent: tuple[int, int, int, int]) -> bytes:
    """A GIF with a 10x10 logical screen whose first frame descriptor reaches far past it
    (a huge frame, or a small one at a huge offset; one variant between smartframe's limit
    and Pillow's). Pillow grows the canvas to hold the frame; ImageTooLargeError from the
    grown size, before decoding."""
    head, rest = gif_parts(encode(Image.new("P", (10, 10)), "GIF"))
    at = rest.index(b",")
    descriptor = b"," + struct.pack("<HHHH", *extent) + rest[at + 9:at + 10]
    return head + rest[:at] + descriptor + rest[at + 10:]


@case(suffix=".gif", expect=None, verify=lambda r: r.source.size == (200, 150) or None)
def gif_frame_larger_than_screen() -> bytes:
    """A GIF whose 10x10 logical screen holds a 200x150 first frame. Pillow's canvas
    grows to the frame; the limit applies to that size; it frames from the 200x150 image."""
    head, rest = gif_parts(encode(photo(200, 150).convert("P"), "GIF"))
    return head[:6] + struct.pack("<HH", 10, 10) + head[10:] + rest


@case(suffix=".jpg", expect=ImageTooLargeError, fragment="pixels", variants={
    "65500x65500": ((65500, 65500), ImageTooLargeError, "pixels"),
    "just-over-150MP": ((12248, 12248), ImageTooLargeError, "150013504 pixels"),
})
def jpeg_bomb(size: tuple[int, int]) -> bytes:
    """A 1 KB JPEG whose SOF header declares a huge size. ImageTooLargeError from the
    header, before libjpeg allocates anything."""
    return jpeg_with_size(*size)


@case(suffix=".webp", expect=ImageTooLargeError, fragment="pixels")
def webp_canvas_bomb() -> bytes:
    """A WebP with a VP8X canvas of 16384x16384 around a small frame. ImageTooLargeError."""
    chunks = webp_chunks(encode(photo(16, 16), "WEBP", quality=80))
    return webp_riff([(b"VP8X", webp_vp8x(16384, 16384))] + chunks)


@case(suffix=".bmp", expect=ImageTooLargeError, fragment="pixels")
def bmp_bomb() -> bytes:
    """A BMP header declaring 50000x50000 with 8x8 pixels of data. ImageTooLargeError."""
    return bmp_with_size(50000, 50000)


@case(suffix=".tif", expect=ImageTooLargeError, fragment="pixels")
def tiff_bomb() -> bytes:
    """A TIFF whose IFD declares 50000x50000. ImageTooLargeError."""
    data = encode(photo(8, 8), "TIFF")
    return tiff_patch(tiff_patch(data, 256, 50000), 257, 50000)


@case(suffix=".avif", expect=ImageTooLargeError, fragment="pixels", when=HAS_AVIF)
def avif_bomb() -> bytes:
    """An AVIF whose 'ispe' box declares 12800x12800 (164 MP, above max_pixels, within
    libavif's own limit). ImageTooLargeError from the container header."""
    data = bytearray(encode(photo(64, 64), "AVIF", quality=50))
    at = data.index(b"ispe")
    data[at + 8:at + 16] = struct.pack(">II", 12800, 12800)
    return bytes(data)


@case(suffix=".png", expect=ImageTooLargeError, fragment="PNG text or ICC chunk", variants={
    "zTXt": (b"zTXt", ImageTooLargeError, "PNG text or ICC chunk"),
    "iCCP": (b"iCCP", ImageTooLargeError, "PNG text or ICC chunk"),
})
def png_metadata_bomb(kind: bytes) -> bytes:
    """A PNG with a 20 KB zTXt or iCCP chunk that inflates to 20 MB (a bomb in the
    metadata). ImageTooLargeError: Pillow stops inflating at 1 MB."""
    payload = b"comment\0\0" + zlib.compress(b"\0" * 20_000_000, 9)
    chunks = png_chunks(encode(photo(), "PNG"))
    return png_join(chunks[:1] + [(kind, payload)] + chunks[1:])


@case(suffix=".png", expect=ImageTooLargeError, fragment="PNG text or ICC chunk")
def png_text_memory_bomb() -> bytes:
    """A PNG with 70 zTXt chunks of 1 KB, each inflating to 1 MB: 70 MB of text in all.
    ImageTooLargeError (Pillow's 64 MB text budget)."""
    one = zlib.compress(b"a" * 1_000_000, 9)
    chunks = png_chunks(encode(photo(), "PNG"))
    text = [(b"zTXt", f"k{i}".encode() + b"\0\0" + one) for i in range(70)]
    return png_join(chunks[:1] + text + chunks[1:])


# --- extreme geometry ---------------------------------------------------------------------------

@case(suffix=".png", expect=None, variants={
    "1x1": ((1, 1), None, None),
    "1x20000": ((1, 20000), None, None),
    "20000x1": ((20000, 1), None, None),
})
def png_extreme_size(size: tuple[int, int]) -> bytes:
    """PNGs of 1x1, 1x20000 and 20000x1 pixels. They frame to exactly 64x48 (enlarged,
    with a warning)."""
    return encode(photo(*size), "PNG")


@case(suffix=".jpg", expect=None, variants={
    "1x1": ((1, 1), None, None),
    "20000x1": ((20000, 1), None, None),
})
def jpeg_extreme_size(size: tuple[int, int]) -> bytes:
    """JPEGs of 1x1 and 20000x1 pixels (a single MCU row). They frame exactly."""
    return encode(photo(*size), "JPEG")


# --- modes --------------------------------------------------------------------------------------

def _grey16() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:96]
    return ((x * 680 + y * 1000) % 65536).astype(np.uint16)


@case(suffix=".png", expect=None, variants={
    "grey16": ((0, 1), None, None),
    "rgb16": ((2, 3), None, None),
    "rgba16": ((6, 4), None, None),
    "grey-alpha16": ((4, 2), None, None),
})
def png_16_bit(layout: tuple[int, int]) -> bytes:
    """16-bit PNGs: grey, RGB, RGBA and grey+alpha, built chunk by chunk. They frame (16
    bits scaled to 8, never clipped)."""
    colour_type, channels = layout
    samples = np.repeat(_grey16()[:, :, None], channels, axis=2).astype(">u2")
    return png_raw(96, 64, 16, colour_type, samples.tobytes())


@case(suffix=".png", expect=None, variants={f"depth{d}": (d, None, None) for d in (1, 2, 4)})
def png_low_depth_grey(depth: int) -> bytes:
    """1-, 2- and 4-bit grey PNGs. They frame."""
    rng = np.random.default_rng(depth)
    per_row = (96 * depth + 7) // 8
    return png_raw(96, 64, depth, 0, rng.integers(0, 256, per_row * 64, dtype=np.uint8).tobytes())


@case(suffix=".png", expect=None, variants={
    "LA": ("LA", None, None),
    "P-with-tRNS": ("P", None, None),
    "RGB-with-tRNS": ("RGB", None, None),
    "L-with-tRNS": ("L", None, None),
})
def png_transparency(mode: str) -> bytes:
    """Grey+alpha, palette with a tRNS chunk, RGB and grey with a transparent colour key.
    They frame, flattened onto white."""
    image = photo()
    if mode == "LA":
        return encode(image.convert("LA"), "PNG")
    if mode == "P":
        palette = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        return encode(palette, "PNG", transparency=bytes(range(0, 256, 16)))
    converted = image.convert(mode)
    key = converted.getpixel((0, 0))
    return encode(converted, "PNG", transparency=key)


@case(suffix=".gif", expect=None)
def gif_transparency() -> bytes:
    """A GIF with a transparent palette index. It frames, flattened."""
    palette = photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return encode(palette, "GIF", transparency=0)


@case(suffix=".jpg", expect=None, variants={
    "jpeg": ("JPEG", None, None),
    "jpeg-progressive": ("JPEG-P", None, None),
    "tiff": ("TIFF", None, None),
})
def cmyk(fmt: str) -> bytes:
    """CMYK JPEG (baseline and progressive, Adobe-inverted as Photoshop writes it) and
    CMYK TIFF, no profile. They frame (converted without a profile, noted)."""
    image = photo().convert("CMYK")
    if fmt == "TIFF":
        return encode(image, "TIFF")
    return encode(image, "JPEG", quality=90, progressive=fmt == "JPEG-P")


@case(suffix=".tif", expect=None, variants={
    "I-negative": ("I", None, None),
    "F-with-nan-and-inf": ("F", None, None),
    "F-0-to-1": ("F01", None, None),
    "I16": ("I;16", None, None),
    "bilevel": ("1", None, None),
})
def tiff_modes(mode: str) -> bytes:
    """TIFFs in 32-bit integer (with negative values), float (with NaN and infinity; and
    within 0..1), 16-bit and 1-bit modes. They frame (stretched or scaled, noted)."""
    y, x = np.mgrid[0:64, 0:96]
    if mode == "I":
        return encode(Image.fromarray((x * 1000 - y * 70000).astype(np.int32)), "TIFF")
    if mode == "F":
        values = (x - y * 3.5).astype(np.float32)
        values[5, 5], values[6, 6], values[7, 7] = np.nan, np.inf, -np.inf
        return encode(Image.fromarray(values), "TIFF")
    if mode == "F01":
        return encode(Image.fromarray((x / 95.0).astype(np.float32)), "TIFF")
    if mode == "I;16":
        return encode(Image.fromarray(_grey16()), "TIFF")
    return encode(photo().convert("1"), "TIFF")


@case(suffix=".tif", expect=None, verify=lambda r: r.source.mode == "LAB" or None)
def tiff_lab() -> bytes:
    """A CIE L*a*b* TIFF. It frames: Pillow converts L*a*b* to sRGB."""
    return encode(photo().convert("LAB"), "TIFF")


# --- EXIF orientation ---------------------------------------------------------------------------

_ORIENTATIONS = {
    "0": ((TIFF_SHORT, 1, struct.pack("<H", 0)), None, None, orientation_applied(1)),
    "9": ((TIFF_SHORT, 1, struct.pack("<H", 9)), None, None, orientation_applied(1)),
    "65535": ((TIFF_SHORT, 1, struct.pack("<H", 65535)), None, None, orientation_applied(1)),
    "sshort-minus-1": ((TIFF_SSHORT, 1, struct.pack("<h", -1)), None, None, orientation_applied(1)),
    "slong-minus-6": ((TIFF_SLONG, 1, struct.pack("<i", -6)), None, None, orientation_applied(1)),
    "long-6": ((TIFF_LONG, 1, struct.pack("<I", 6)), None, None, orientation_applied(6)),
    "rational-6": ((TIFF_RATIONAL, 1, struct.pack("<II", 6, 1)), None, None, orientation_applied(6)),
    "rational-13-2": ((TIFF_RATIONAL, 1, struct.pack("<II", 13, 2)), None, None, orientation_applied(1)),
    "ascii-6": ((TIFF_ASCII, 2, b"6\0"), None, None, orientation_applied(1)),
    "two-values": ((TIFF_SHORT, 2, struct.pack("<HH", 6, 6)), None, None, orientation_applied(6)),
    "undefined-type": ((TIFF_UNDEFINED, 4, b"\x06\0\0\0"), None, None),
    "count-2-billion": ((TIFF_SHORT, 2_000_000_000, struct.pack("<I", 8)), None, None),
    "type-99": ((99, 1, struct.pack("<H", 6)), None, None),
}


@case(suffix=".jpg", variants=_ORIENTATIONS)
def jpeg_orientation(tag: tuple[int, int, bytes]) -> bytes:
    """A JPEG whose EXIF orientation tag is out of range (0, 9, 65535), negative (SSHORT,
    SLONG), of another type (LONG 6 and RATIONAL 6/1 mean 6, as Pillow reads them;
    RATIONAL 13/2, ASCII, UNDEFINED, an unknown type 99), given twice (6, 6: Pillow keeps
    the first, as for any one-value tag), or with a count of 2 billion pointing past the
    block. Each frames: a valid value is applied, anything else is ignored (noted)."""
    kind, count, value = tag
    return encode(photo(), "JPEG", exif=orientation_exif(kind, count, value))


@case(suffix=".png", expect=None, variants={
    "png-9": ("PNG", None, None, orientation_applied(1)),
    "webp-0": ("WEBP", None, None, orientation_applied(1)),
    "tiff-65535": ("TIFF", None, None, orientation_applied(1)),
})
def other_format_orientation(fmt: str) -> bytes:
    """Out-of-range orientation tags in a PNG eXIf chunk (9), a WebP EXIF chunk (0) and a
    TIFF IFD (65535). They frame, orientation ignored."""
    value = {"PNG": 9, "WEBP": 0, "TIFF": 65535}[fmt]
    if fmt == "TIFF":
        return tiff_patch(encode(photo(), "TIFF", tiffinfo={0x0112: 1}), 0x0112, value)
    return encode(photo(), fmt, exif=orientation_exif(TIFF_SHORT, 1, struct.pack("<H", value)))


# --- huge or looping metadata -------------------------------------------------------------------

@case(suffix=".png", expect=None, variants={
    "png-8MB-makernote": ("PNG", None, None),
    "webp-8MB-makernote": ("WEBP", None, None),
})
def huge_exif(fmt: str) -> bytes:
    """An 8 MB EXIF block (one UNDEFINED MakerNote tag) in a PNG eXIf chunk and in a WebP
    EXIF chunk. They frame (the block is read once; the output does not keep it)."""
    blob = bytes(range(256)) * (8 * 4096)
    exif = exif_block([(0x0112, TIFF_SHORT, 1, struct.pack("<H", 1)),
                       (0x927C, TIFF_UNDEFINED, len(blob), blob)])
    return encode(photo(), fmt, exif=exif)


@case(suffix=".png", expect=None)
def exif_many_entries() -> bytes:
    """An EXIF IFD0 with 65535 entries (the most a count can say). It frames in well under
    a second."""
    entries = [(0x9000 + (i % 4000), TIFF_SHORT, 1, struct.pack("<H", i & 0xFFFF)) for i in range(65535)]
    table = b"".join(struct.pack("<HHI", t, k, c) + v.ljust(4, b"\0") for t, k, c, v in entries)
    exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + struct.pack("<H", 65535) + table + b"\0\0\0\0"
    return encode(photo(), "PNG", exif=exif)


@case(suffix=".jpg", expect=None, variants={
    "ifd0-next-is-itself": ("self", None, None),
    "exif-ifd-is-ifd0": ("exif", None, None),
})
def exif_loop(kind: str) -> bytes:
    """An EXIF block whose IFD0 'next' pointer points at IFD0 itself, or whose Exif
    sub-IFD pointer does. It frames (no endless walk)."""
    if kind == "self":
        exif = exif_block([(0x0112, TIFF_SHORT, 1, struct.pack("<H", 1))], next_ifd=8)
    else:
        exif = exif_block([(0x0112, TIFF_SHORT, 1, struct.pack("<H", 1)),
                           (0x8769, TIFF_LONG, 1, struct.pack("<I", 8))])
    return encode(photo(), "JPEG", exif=exif)


@case(suffix=".jpg", expect=None, verify=warned("ICC"))
def jpeg_huge_icc() -> bytes:
    """A JPEG whose ICC profile is spread over 255 APP2 segments: 16 MB of garbage. It
    frames; a WARNING note says the profile could not be read (colours taken as sRGB)."""
    segments, rest = jpeg_segments(encode(photo(), "JPEG"))
    piece = bytes(range(256)) * 255
    icc = [(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, 255]) + piece) for i in range(255)]
    return jpeg_join(segments[:1] + icc + segments[1:], rest)


@case(suffix=".png", expect=None, verify=warned("ICC"), variants={
    "garbage": ("garbage", None, None, warned("ICC")),
    "truncated-srgb": ("truncated", None, None, warned("ICC")),
    "lab-profile-on-rgb": ("lab", None, None, warned("ICC")),
    "cmyk-header-on-rgb": ("cmyk", None, None, warned("ICC")),
})
def broken_icc(kind: str) -> bytes:
    """A PNG with an ICC profile that is garbage, an sRGB profile cut in half, a Lab
    profile on RGB pixels (valid, but no transform exists), or an RGB profile whose header
    claims CMYK. Each frames, colours taken as they are, and a WARNING note says why."""
    srgb = icc_from(ImageCms.createProfile("sRGB"))
    wide = swapped_primaries_profile()  # a valid RGB profile that is not sRGB
    profile = {
        "garbage": bytes(range(256)) * 8,
        "truncated": srgb[: len(srgb) // 2],
        "lab": icc_from(ImageCms.createProfile("LAB")),
        "cmyk": wide[:16] + b"CMYK" + wide[20:],
    }[kind]
    return encode(photo(), "PNG", icc_profile=profile)


# --- animation ----------------------------------------------------------------------------------

_RED, _GREEN, _BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


def _frames(count: int, size=(96, 64)) -> list[Image.Image]:
    colours = [_RED, _GREEN, _BLUE]
    return [Image.new("RGB", size, colours[i % 3]) for i in range(count)]


@case(suffix=".gif", expect=None, verify=frame_used(_RED), variants={
    "gif": ("GIF", None, None, frame_used(_RED)),
    "webp": ("WEBP", None, None, frame_used(_RED)),
    "apng": ("PNG", None, None, frame_used(_RED)),
})
def animated(fmt: str) -> bytes:
    """A 3-frame animation (red, green, blue) as GIF, WebP and APNG. It frames from the
    first (red) frame, noted."""
    frames = _frames(3)
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40)


@case(suffix=".gif", expect=None, verify=frame_used(_RED))
def gif_five_thousand_frames() -> bytes:
    """A 5000-frame GIF. It frames from the first frame, quickly: only the first frame is
    decoded and only the start of the second is parsed."""
    frames = _frames(5000, (8, 8))
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20)


@case(suffix=".tif", expect=None, verify=frame_used(_RED), variants={
    "small-then-bomb": ("small-first", None, None, frame_used(_RED)),
})
def tiff_multi_frame(order: str) -> bytes:
    """A two-page TIFF: a 96x64 red page, then a page whose IFD declares 50000x50000. It
    frames from the first page; the second is never decoded."""
    frames = _frames(2)
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    # the second IFD is the last one written: patch its size tags in place
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first:first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * count:first + 6 + 12 * count])[0]
    out = bytearray(data)
    count2 = struct.unpack("<H", data[second:second + 2])[0]
    for i in range(count2):
        at = second + 2 + 12 * i
        if struct.unpack("<H", data[at:at + 2])[0] in (256, 257):
            out[at + 2:at + 12] = struct.pack("<HII", TIFF_LONG, 1, 50000)
    return bytes(out)


@case(suffix=".tif", expect=ImageTooLargeError, fragment="pixels")
def tiff_multi_frame_bomb_first() -> bytes:
    """A two-page TIFF whose first page declares 50000x50000. ImageTooLargeError."""
    frames = _frames(2)
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    return tiff_patch(tiff_patch(data, 256, 50000), 257, 50000)


@case(suffix=".tif", expect=None, variants={
    "ifd-loop": ("loop", None, None),
    "ten-thousand-ifds": ("chain", None, None),
})
def tiff_ifd_chain(kind: str) -> bytes:
    """A TIFF whose IFD 'next' pointer points back at itself, and one with a chain of
    10 000 IFDs. Both frame, quickly: only the first two IFDs are ever read."""
    data = bytearray(encode(photo(), "TIFF"))
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first:first + 2])[0]
    next_at = first + 2 + 12 * count
    if kind == "loop":
        data[next_at:next_at + 4] = struct.pack("<I", first)
        return bytes(data)
    ifd = bytes(data[first:next_at])  # the same entries for every page
    chain = bytearray()
    base = len(data)
    for i in range(10_000):
        at = base + i * (len(ifd) + 4)
        following = at + len(ifd) + 4 if i < 9_999 else 0
        chain += ifd + struct.pack("<I", following)
    data[next_at:next_at + 4] = struct.pack("<I", base)
    return bytes(data + chain)


# --- structures that would keep a worker busy ---------------------------------------------------

@case(suffix=".png", expect=ImageTooLargeError, fragment="too many", variants={
    "ancillary": ("ancillary", ImageTooLargeError, "too many"),
    "one-byte-idat": ("idat", ImageTooLargeError, "too many"),
})
def png_many_chunks(kind: str) -> bytes:
    """A 64x48 PNG with 200 000 empty ancillary chunks before IDAT, or its image data
    split into 1-byte IDAT chunks behind 200 000 empty ones. Pillow parses each chunk in
    Python; ImageTooLargeError once the read budget is spent (well under a second),
    instead of a minute of CPU for a 256 MB file."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0))
    pixels = zlib.compress(b"".join(b"\0" + bytes(64 * 3) for _ in range(48)))
    if kind == "ancillary":
        body = png_chunk(b"zzZz", b"") * 200_000 + png_chunk(b"IDAT", pixels)
    else:
        body = png_chunk(b"IDAT", b"") * 200_000 + b"".join(png_chunk(b"IDAT", pixels[i:i + 1])
                                                           for i in range(len(pixels)))
    return PNG_SIGNATURE + ihdr + body + png_chunk(b"IEND", b"")


@case(suffix=".jpg", expect=ImageTooLargeError, fragment="too many")
def jpeg_many_segments() -> bytes:
    """A JPEG with 100 000 empty APP5 segments before its frame header. ImageTooLargeError
    (read budget)."""
    data = encode(photo(), "JPEG")
    return data[:2] + b"\xff\xe5\x00\x02" * 100_000 + data[2:]


@case(suffix=".gif", expect=ImageTooLargeError, fragment="too many")
def gif_many_sub_blocks() -> bytes:
    """A GIF with a comment extension of 200 000 one-byte sub-blocks. ImageTooLargeError
    (read budget)."""
    head, rest = gif_parts(encode(photo(), "GIF"))
    return head + b"!\xfe" + b"\x01x" * 200_000 + b"\x00" + rest


@case(suffix=".jpg", expect=None, verify=warned("MPO"))
def jpeg_broken_mpo_index() -> bytes:
    """A JPEG with an MPF (multi-picture) APP2 segment whose index is garbage. It frames
    as a plain JPEG; Pillow's "malformed MPO" warning becomes a WARNING note."""
    segments, rest = jpeg_segments(encode(photo(), "JPEG"))
    mpf = b"MPF\0" + b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 2) + b"\xff" * 40
    return jpeg_join(segments[:1] + [(0xE2, mpf)] + segments[1:], rest)


def _progressive_with_repeats(repeats: int) -> bytes:
    """A progressive 256x256 JPEG whose smallest AC scan is repeated ``repeats`` more
    times (libjpeg warns about the bogus progression and decodes each repeat)."""
    y, x = np.mgrid[0:256, 0:256]
    image = Image.fromarray(((x + y) % 256).astype(np.uint8)).convert("RGB")
    data = encode(image, "JPEG", progressive=True, quality=80)
    head, *scans = data[:-2].split(b"\xff\xda")
    small = min(range(1, len(scans)), key=lambda i: len(scans[i]))
    repeated = scans[:small + 1] + [scans[small]] * repeats + scans[small + 1:]
    return head + b"".join(b"\xff\xda" + scan for scan in repeated) + b"\xff\xd9"


@case(suffix=".jpg", variants={
    "1000-scans": (1000, ImageTooLargeError, "JPEG scans"),
    "200-scans": (190, None, None),
})
def jpeg_many_scans(repeats: int) -> bytes:
    """A progressive JPEG with one tiny scan repeated to over 1000 scans: each scan is a
    pass over the whole image (10 000 of them took libjpeg 5 s at 16 MP), so
    ImageTooLargeError from a count of the scans before decoding. With 200 scans (under
    the limit of 256) it frames."""
    return _progressive_with_repeats(repeats)


@case(suffix=".jpg", expect=ImageTooLargeError, fragment="too many")
def jpeg_segments_after_first_scan() -> bytes:
    """A progressive JPEG with 300 000 empty APP5 segments between its first and second
    scans (after the part Pillow parses when opening). ImageTooLargeError: the scan count
    walks segments with the same budget as Pillow's parsing."""
    data = encode(photo(), "JPEG", progressive=True)
    second = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    return data[:second] + b"\xff\xe5\x00\x02" * 300_000 + data[second:]


# --- within max_pixels, beyond the memory a decode may take (Limits.max_decode_bytes) -----------

def webp_small_frame_on_canvas(width: int, height: int) -> bytes:
    """A one-frame animated WebP: a 16x16 frame on a ``width`` x ``height`` canvas (a still
    WebP's frame must fill its canvas; an animation's need not). The decoder allocates,
    clears and composites onto the whole canvas."""
    frame = webp_chunks(encode(photo(16, 16), "WEBP", quality=80))
    bitstream = b"".join(kind + struct.pack("<I", len(c)) + c + b"\0" * (len(c) % 2) for kind, c in frame)
    anmf = bytes(6) + (15).to_bytes(3, "little") * 2 + (100).to_bytes(3, "little") + b"\0" + bitstream
    return webp_riff([(b"VP8X", webp_vp8x(width, height, flags=0x02)),
                      (b"ANIM", b"\0\0\0\0\0\0"), (b"ANMF", anmf)])


@case(suffix=".webp", expect=ImageTooLargeError, fragment="max_decode_bytes")
def webp_canvas_over_decode_budget() -> bytes:
    """A 200-byte WebP animation with a 9000x9000 canvas (81 MP, under max_pixels).
    libwebp's decoder needs two RGBA canvases and Pillow a copy and an image: 16 bytes a
    pixel, 1.3 GB. ImageTooLargeError from the estimate, before anything is decoded."""
    return webp_small_frame_on_canvas(9000, 9000)


@case(suffix=".webp", expect=None)
def webp_small_frame_on_canvas_ok() -> bytes:
    """The same construction with a 300x200 canvas. It frames (the canvas is the image)."""
    return webp_small_frame_on_canvas(300, 200)


@case(suffix=".jpg", expect=ImageTooLargeError, fragment="DCT coefficients")
def jpeg_progressive_cmyk_over_decode_budget() -> bytes:
    """A 2 KB progressive CMYK JPEG (no subsampling) whose header declares 12000x12000
    (144 MP, under max_pixels). libjpeg would allocate and clear 1.1 GB of coefficients
    before reading a scan. ImageTooLargeError from the estimate."""
    segments, rest = jpeg_segments(encode(photo(16, 16).convert("CMYK"), "JPEG", progressive=True,
                                          subsampling=0))
    patched = [(m, b[:1] + struct.pack(">HH", 12000, 12000) + b[5:] if m == 0xC2 else b)
               for m, b in segments]
    return jpeg_join(patched, rest)


@case(suffix=".tif", expect=ImageTooLargeError, fragment="upright copy")
def tiff_rotated_over_decode_budget() -> bytes:
    """A deflate TIFF with orientation 6 whose IFD declares 12000x12000 (144 MP): Pillow
    decodes it and turns it upright into a second image, 8 bytes a pixel, 1.15 GB.
    ImageTooLargeError from the estimate."""
    data = encode(photo(16, 16), "TIFF", compression="tiff_adobe_deflate", tiffinfo={0x0112: 6})
    return tiff_patch(tiff_patch(data, 256, 12000), 257, 12000)


@case(suffix=".tif", expect=CorruptImageError, fragment="decode")
def tiff_deflate_strip_garbled() -> bytes:
    """A deflate TIFF whose compressed strip is random bytes. CorruptImageError; libtiff
    also reports it on the process's stderr (C code), which the CLI captures so that its
    error stays one line."""
    data = encode(photo(), "TIFF", compression="tiff_adobe_deflate")
    return garble(data, 8, 8 + 200)


@case(suffix=".avif", expect=CorruptImageError, fragment="Missing or empty image item", when=HAS_AVIF)
def avif_primary_item_missing() -> bytes:
    """An AVIF whose 'pitm' box names an item that does not exist. CorruptImageError.
    (Found by the fuzzer: Pillow raises RuntimeError for most libavif failures, which
    escaped as an internal error.)"""
    data = bytearray(encode(photo(), "AVIF", quality=60))
    at = data.index(b"pitm")
    data[at + 8:at + 10] = struct.pack(">H", 999)
    return bytes(data)


def _heif_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


HAS_HEIF = _heif_available()


@case(suffix=".heic", variants={
    "16B": ("16B", CorruptImageError, "HEIF"),
    "half": ("half", CorruptImageError, None),
    "tail-1": ("tail-1", CorruptImageError, None),
}, when=HAS_HEIF)
def heic_truncated(point: str) -> bytes:
    """A HEIC (read through the optional pillow-heif extra, installed for the tests) cut
    after 16 bytes, at half and one byte short. CorruptImageError; the 16-byte cut used to
    say "needs the optional decoder" although it was installed."""
    return _truncated("HEIF", {"quality": 80})(point)


@case(suffix=".heic", expect=ImageTooLargeError, fragment="pixels", when=HAS_HEIF)
def heic_bomb() -> bytes:
    """A HEIC whose 'ispe' box declares 50000x50000. ImageTooLargeError from the header."""
    data = bytearray(encode(photo(), "HEIF", quality=80))
    at = data.index(b"ispe")
    data[at + 8:at + 16] = struct.pack(">II", 50000, 50000)
    return bytes(data)


@case(suffix=".heic", expect=None, when=HAS_HEIF)
def heic_ok() -> bytes:
    """A valid HEIC (the CLI writes it as .heic). It frames through the extra."""
    return encode(photo(), "HEIF", quality=80)
