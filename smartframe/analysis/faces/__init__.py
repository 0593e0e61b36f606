"""Faces: detection with YuNet and CenterFace -- the only door to the face models.

The stages, one module each:

* :mod:`.face` -- the result type (:class:`Face`), the default thresholds and what counts
  as an identifiable face;
* :mod:`.yunet` -- the model file, its input tensor and the decoding of its outputs into
  boxes, landmarks and scores;
* :mod:`.centerface` -- the second model (its file, made size-free in memory, its decoding);
* :mod:`.runtime` -- the onnxruntime session that runs each (verified file, stated threads);
* :mod:`.detector` -- proposal (upright and turned), re-look, CenterFace's second opinion and
  decision, the process-wide detector and the source-pixel helpers.

Boxes are in the pixel frame of the array given to the detector, x1/y1 exclusive; the
``*_source_faces`` helpers return source pixels after EXIF orientation.
"""

from .centerface import CENTERFACE, CenterFace
from .detector import (
    TURNS,
    Candidate,
    DetectorSettings,
    FaceDetector,
    as_rgb_uint8,
    close_all_detectors,
    decide,
    detect_faces,
    detect_source_faces,
    get_detector,
    identifiable_faces,
)
from .face import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, SIZE_MARGIN, Face, is_identifiable
from .yunet import YUNET_N, Detections

__all__ = [
    "Face", "DEFAULT_MIN_SIZE_PX", "DEFAULT_MIN_SCORE", "SIZE_MARGIN", "is_identifiable",
    "YUNET_N", "Detections", "CENTERFACE", "CenterFace", "TURNS",
    "FaceDetector", "DetectorSettings", "Candidate", "decide", "as_rgb_uint8",
    "get_detector", "close_all_detectors", "detect_faces", "detect_source_faces", "identifiable_faces",
]
