"""Load: read any supported input and normalise it once, at the front of the pipeline.

Two steps, so that the decode can be planned from the header:

1. :func:`open_source` reads only the header: format, stored size, EXIF orientation, mode,
   ICC profile. Limits (file bytes, declared pixels, JPEG scans) are enforced here, before
   any pixel is decoded, so a decompression bomb costs nothing.
2. :meth:`OpenedSource.decode` estimates the memory the decode needs (the decoder's buffers
   and the working image; ``Limits.max_decode_bytes``), decodes the pixels -- for JPEG,
   reduced in the DCT domain by the largest factor the caller allows; for every format,
   box-reduced by a whole factor while converting -- and normalises them: ICC profile to
   sRGB, EXIF orientation applied, every mode converted to 8-bit RGB (16-bit and float
   scaled, never clipped), transparency flattened onto a colour (or kept as RGBA when
   asked).

Memory: the conversion runs in bands of rows, so its temporary copies stay about a
megapixel whatever the image size; the peak is the decoder's buffers plus one working
array. See docs/errors.md, "Limits" and "Memory", for measured figures.

Hostile input: the input is read through a stream that counts ``read()`` calls, so a file
made of hundreds of thousands of tiny chunks, segments or blocks (which Pillow parses in
Python) is refused instead of keeping a worker busy for minutes. Whatever Pillow raises on
malformed data is translated into an :class:`~smartframe.errors.InputError` kind naming
the input; what Pillow warns about the file becomes a WARNING note.

Everything the normalisation did is listed in ``LoadedImage.notes``; nothing is converted
silently.

The stages, one module each: :mod:`.header` (the budgeted stream, the format, the header facts
and the limits), :mod:`.memory` (what a decode will allocate), :mod:`.jpeg` (the DCT-domain
decode of baseline JPEGs), :mod:`.convert` (bands
of decoded pixels to upright 8-bit sRGB) and :mod:`.source` (the two steps above).
"""

from __future__ import annotations

from .convert import flatten_alpha
from .header import SourceInfo
from .source import LoadedImage, OpenedSource, Source, load, open_source

__all__ = ["Source", "SourceInfo", "LoadedImage", "OpenedSource", "open_source", "load",
           "flatten_alpha"]
