"""Batch stage 2, the outputs: a batch's use of :mod:`smartframe.outputs`, the one door for files.

The rules live there, once, for every front end: the naming rule of a batch's outputs
(``<stem>-<target>-<digest>.<ext>``, :func:`smartframe.outputs.batch_name`), the refusal to
replace an input (by path, symlink or hard link), and the atomic write. This module adds what
only a batch has: the size labels of the manifest, the candidate names of every input for
the refusal, and the clean-up of the temporary files a killed run left behind (under the
folder lock of :mod:`smartframe.batch.records`).

Imports nothing from the rest of :mod:`smartframe.batch`.
"""

from __future__ import annotations

import os

from ..errors import OutputError
from ..outputs import BATCH_NAME, TEMPORARY_NAME, batch_name, refuse_inputs_as_outputs, write_atomic
from ..targets import Preset, parse_target

__all__ = ["output_name", "write_output"]

#: A batch output's file name (the rule is :func:`smartframe.outputs.batch_name`'s).
output_name = batch_name


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
    targets = [name for label in labels for name in _possible_targets(label)]
    refuse_inputs_as_outputs(files, out_dir, lambda path: (output_name(path, target, fmt) for target in targets
                                                           for fmt in ("jpeg", "png", "webp")),
                             manifest=manifest)


def write_output(out_dir: str, input_path: str, target_name: str, encoded) -> str:
    """Write ``encoded`` (an :class:`~smartframe.encode.Encoded`) atomically into ``out_dir``
    under its :func:`output_name`; returns the output's absolute path.

    Raises :class:`OutputError` naming both the output and ``input_path``.
    """
    path = os.path.join(out_dir, output_name(input_path, target_name, encoded.format))
    try:
        write_atomic(path, encoded.data)  # the folder exists: the run made it before any work
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
                match = TEMPORARY_NAME.match(entry.name)
                if not match or not entry.is_file(follow_symlinks=False):
                    continue
                name = match.group("name")
                ours = (folder == out_dir and BATCH_NAME.match(name)) or (
                    folder == manifest_dir and name == manifest_name)
                if ours:
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        continue  # gone already
    return removed

