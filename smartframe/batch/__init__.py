"""Batch: frame many inputs to one or more sizes, in parallel, with a manifest and resume.

The flow, top to bottom::

    collect inputs -> decide what is left to do (manifest) -> run it (worker processes, or a
    Dask cluster) -> one manifest line per (input, size) as each item finishes

One module per stage; each imports only from the stages before it (tests/test_batch_layout.py
checks it):

1. :mod:`.inputs` -- files, folders and glob patterns -> the paths to frame;
2. :mod:`.naming` -- where each output goes and the one place that writes it (the naming
   rule, never overwriting an input, atomic writes, stale temporaries);
3. :mod:`.records` -- Job, Task, ItemRecord, ErrorInfo, Timings, BatchReport, the manifest,
   resume, and the output folder's lock;
4. :mod:`.item` -- the work of one item, the same on every engine;
5. :mod:`.local_engine` (worker processes, time limits, replacement) and
   :mod:`.dask_engine` (the same on a Dask cluster, imported only when asked for);
6. :mod:`.run` -- :func:`frame_many`, which validates, plans and chooses one engine.

The names below are the public API; everything else is reached through its module.
"""

from __future__ import annotations

from .inputs import IMAGE_EXTENSIONS, collect_inputs
from .item import frame_item
from .naming import output_name
from .records import (
    MANIFEST_NAME,
    BatchInterrupted,
    BatchReport,
    ErrorInfo,
    ItemRecord,
    Job,
    Task,
    Timings,
    read_manifest,
)
from .run import DEFAULT_TIMEOUT, frame_many

__all__ = [
    "frame_many",
    "BatchReport",
    "BatchInterrupted",
    "ItemRecord",
    "ErrorInfo",
    "Timings",
    "Job",
    "Task",
    "frame_item",
    "collect_inputs",
    "output_name",
    "read_manifest",
    "IMAGE_EXTENSIONS",
    "DEFAULT_TIMEOUT",
    "MANIFEST_NAME",
]
