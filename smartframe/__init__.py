"""smartframe: any image to exactly the size a consumer demands, keeping what matters.

>>> import smartframe
>>> r = smartframe.frame("photo.jpg", "1280x720")          # doctest: +SKIP
>>> r.image.size, r.crop_box                                # doctest: +SKIP
((1280, 720), (412.0, 0.0, 3612.0, 1800.0))
>>> smartframe.check("upload.jpg", "sora-2").ok             # doctest: +SKIP
True

Boxes are ``(x0, y0, x1, y1)`` in source pixels after EXIF orientation, x1/y1 exclusive;
sizes are ``(width, height)``.
"""

__version__ = "0.1.0"

from .analysis import Analysis, Face
from .batch import BatchReport, ItemRecord, frame_many
from .check import CheckReport, Violation, check
from .encode import Encoded, encode
from .errors import (
    ByteBudgetError,
    ConstraintError,
    CorruptImageError,
    FacesFoundError,
    ImageNotFoundError,
    ImageReadError,
    ImageTooLargeError,
    InputError,
    ModelError,
    NotAnImageError,
    OptionError,
    OutputError,
    ProcessingTimeout,
    RedactionError,
    SmartframeError,
    UnsupportedImageError,
)
from .geometry import Box, Size, parse_size
from .load import LoadedImage, SourceInfo, load
from .options import (
    AlphaPolicy,
    CropBounds,
    FacePolicy,
    Fit,
    FrameOptions,
    Limits,
    PadPosition,
    Strategy,
)
from .pipeline import (
    FROM_TARGET,
    FrameResult,
    frame,
    frame_sizes,
    make_plan,
    make_plans,
)
from .plan import Plan
from .targets import Preset, Target, get_preset, parse_target, presets

__all__ = [
    "__version__",
    "frame", "frame_sizes", "make_plan", "make_plans", "check", "load", "encode",
    "FrameResult", "CheckReport", "Violation", "Plan", "Analysis", "Face", "Encoded",
    "LoadedImage", "SourceInfo", "FROM_TARGET",
    "FrameOptions", "Limits", "CropBounds", "Fit", "Strategy", "FacePolicy", "PadPosition",
    "AlphaPolicy",
    "Size", "Box", "parse_size", "Target", "Preset", "presets", "get_preset", "parse_target",
    "SmartframeError", "OptionError", "InputError", "ImageNotFoundError", "ImageReadError",
    "NotAnImageError", "CorruptImageError", "UnsupportedImageError", "ImageTooLargeError",
    "ConstraintError", "ByteBudgetError", "FacesFoundError", "RedactionError", "ModelError",
    "ProcessingTimeout", "OutputError",
    "frame_many", "BatchReport", "ItemRecord",
]
