"""Batch stage 2, the outputs: where each output goes, and the one place that writes it.

Every rule of :func:`smartframe.batch.frame_many` about output files lives here, and only
here: the naming rule, the refusal to overwrite an input, the atomic write, and the clean-up
of temporary files a killed run left behind.

**Naming rule.** Every output goes directly into ``out`` as::

    <stem>-<target>-<digest>.<ext>

``stem`` is the input's file name without its extension, transliterated to ASCII with every
run of characters other than ``A-Z a-z 0-9 . _ -`` replaced by ``_``, leading and trailing
``.``, ``_`` and ``-`` removed (no hidden names, none that reads as a command-line option;
at most 64 characters, ``image`` when nothing is left); ``target`` is the resolved target name with ``:`` as ``_``
(``1280x720``, ``sora-2_720x1280``); ``digest`` is the first 12 hex digits of the SHA-256 of the
input's absolute path; ``ext`` is ``jpg``, ``png`` or ``webp``. The name depends only on the
input's path and the target, so a rerun writes the same names, the same stem in two folders
never collides, and no input name can place a file outside ``out``. An output never
replaces an input: the run refuses to start when one would.

Outputs are written atomically (temporary file + rename), so a killed run leaves no partial
output; its stale temporary files are removed at the start of the next run (under the folder
lock of :mod:`smartframe.batch.records`).

Imports nothing from the rest of :mod:`smartframe.batch`.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

from ..encode import write_atomic
from ..errors import OptionError, OutputError
from ..targets import Preset, parse_target

__all__ = ["output_name", "write_output"]

_DIGEST_HEX = 12
_STEM_MAX = 64
# What write_atomic leaves behind when its process is killed between mkstemp and rename:
# "." + final name + "." + 8 random characters + ".part".
_TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.part$")
_OUTPUT_PATTERN = re.compile(r"^[A-Za-z0-9._-]+-[A-Za-z0-9_-]+-[0-9a-f]{%d}\.(jpg|png|webp)$" % _DIGEST_HEX)


def output_name(input_path: str, target_name: str, format: str) -> str:
    """The output file name for ``input_path`` framed to ``target_name`` (see the module
    docstring for the rule). ``format`` is ``jpeg``, ``png`` or ``webp``.

    >>> output_name("/photos/Été 2024.JPG", "sora-2:1280x720", "jpeg")[:-16]
    'Ete_2024-sora-2_1280x720'
    """
    ext = "jpg" if format == "jpeg" else format
    label = re.sub(r"[^A-Za-z0-9-]+", "_", target_name)
    return f"{_safe_stem(input_path)}-{label}-{_path_digest(input_path)}.{ext}"


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-")[:_STEM_MAX].strip("._-")
    return cleaned or "image"


def _path_digest(path: str) -> str:
    return hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:_DIGEST_HEX]


def _spec_label(parsed: object) -> str:
    """``sora-2-pro``, ``sora-2-pro:16:9``, ``sora-2:1280x720`` or ``1280x720``."""
    return parsed.label if isinstance(parsed, Preset) else parsed.name


def _possible_targets(label: str) -> list[str]:
    parsed = parse_target(label)
    if isinstance(parsed, Preset):
        return [parsed.target(size).name for size in parsed.sizes]
    return [parsed.name]


def _refuse_overwriting_inputs(files: list[str], labels: list[str], out_dir: str, manifest: str) -> None:
    """Raise OptionError when an output name or the manifest is one of the inputs."""
    real_out = os.path.realpath(out_dir)
    inside = {os.path.realpath(f) for f in files if os.path.dirname(os.path.realpath(f)) == real_out}
    if os.path.realpath(manifest) in {os.path.realpath(f) for f in files}:
        raise OptionError("manifest", manifest, "a file that is not one of the inputs")
    if not inside:
        return
    targets = [name for label in labels for name in _possible_targets(label)]
    for path in files:
        for target in targets:
            for fmt in ("jpeg", "png", "webp"):
                candidate = os.path.join(real_out, output_name(path, target, fmt))
                if candidate in inside:
                    raise OptionError("inputs", candidate,
                                      f"files that are not outputs of this batch: framing {path} would "
                                      "overwrite it; move it out of --out")


def write_output(out_dir: str, input_path: str, target_name: str, encoded) -> str:
    """Write ``encoded`` (an :class:`~smartframe.encode.Encoded`) atomically into ``out_dir``
    under its :func:`output_name`; returns the output's absolute path.

    Raises :class:`OutputError` naming both the output and ``input_path``.
    """
    path = os.path.join(out_dir, output_name(input_path, target_name, encoded.format))
    try:
        write_atomic(path, encoded.data)
    except OutputError as error:  # it names the output; the record also names the input
        raise OutputError(str(error), source=input_path) from error
    return path


def _remove_stale_temporaries(out_dir: str, manifest: str) -> int:
    """Delete what write_atomic left behind in killed runs; returns how many files.

    Only temporary files of smartframe outputs (in ``out_dir``) and of the manifest (next to
    it) are touched, and only while this run holds the folder lock, so no live writer owns them.
    """
    removed = 0
    manifest_dir, manifest_name = os.path.split(manifest)
    for folder in dict.fromkeys((out_dir, manifest_dir)):
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _TEMP_PATTERN.match(entry.name)
                if not match or not entry.is_file(follow_symlinks=False):
                    continue
                name = match.group("name")
                ours = (folder == out_dir and _OUTPUT_PATTERN.match(name)) or (
                    folder == manifest_dir and name == manifest_name)
                if ours:
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        continue  # gone already
    return removed

