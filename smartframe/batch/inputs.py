"""Batch stage 1, the inputs: files, folders and glob patterns -> the absolute paths to frame.

Files, folders (searched recursively for image extensions, hidden names and the output folder
skipped) and glob patterns. A file named explicitly is taken as given; a name that matches
nothing is returned apart, so that :func:`smartframe.batch.frame_many` records it as a failed
input (kind ``input``) and every name the caller gave is accounted for.

Imports nothing from the rest of :mod:`smartframe.batch`.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Iterable

__all__ = ["collect_inputs", "IMAGE_EXTENSIONS"]

#: File extensions a folder or glob search picks up (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp",
                              ".tif", ".tiff", ".avif", ".heic", ".heif"})
_GLOB_CHARS = re.compile(r"[*?[]")


def collect_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike], *,
                   exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[str], list[str]]:
    """Expand files, folders and glob patterns into absolute file paths.

    Returns ``(files, unmatched)``: the files in order (each once; folders sorted and
    searched recursively), and the names that matched nothing (absolute). Folder and glob
    searches keep only :data:`IMAGE_EXTENSIONS`, skip hidden names (starting with ``.``),
    things that are not files (FIFOs, devices), and anything under an ``exclude`` path (the
    output folder, the manifest). A file named explicitly is taken as given.
    """
    excluded = [os.path.realpath(p) for p in exclude]
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    files: list[str] = []
    unmatched: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        path = os.path.abspath(path)
        if path not in seen:
            seen.add(path)
            files.append(path)

    for item in items:
        name = os.fspath(item)
        if os.path.isdir(name):
            for path in _search_folder(name, excluded):
                add(path)
        elif os.path.lexists(name):
            add(name)
        elif _GLOB_CHARS.search(name):
            matches = sorted(glob.glob(name, recursive=True))
            found = [p for m in matches for p in (_search_folder(m, excluded) if os.path.isdir(m)
                                                  else [m] if _wanted(m, excluded) else [])]
            if not found:
                unmatched.append(os.path.abspath(name))
            for path in found:
                add(path)
        else:
            unmatched.append(os.path.abspath(name))
    return files, [u for u in dict.fromkeys(unmatched) if u not in seen]


def _search_folder(root: str, excluded: list[str]) -> list[str]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".")
                               and not _is_excluded(os.path.join(folder, d), excluded))
        found.extend(os.path.join(folder, n) for n in sorted(names)
                     if _wanted(os.path.join(folder, n), excluded))
    return found


def _wanted(path: str, excluded: list[str]) -> bool:
    name = os.path.basename(path)
    if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
        return False
    if os.path.exists(path) and not os.path.isfile(path):
        return False  # a folder, FIFO or device with an image-like name (a broken link stays in)
    return not _is_excluded(path, excluded)


def _is_excluded(path: str, excluded: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == e or real.startswith(e.rstrip(os.sep) + os.sep) for e in excluded)

