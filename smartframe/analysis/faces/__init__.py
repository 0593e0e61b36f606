"""Faces: detection with MediaPipe BlazeFace -- the only door to mediapipe and the face models.

The stages, one module each:

* :mod:`.face` -- the result type (:class:`Face`) and the default thresholds;
* :mod:`.blazeface` -- the bundled models, their SSD anchors, box decoding and NMS;
* :mod:`.windows` -- regions of an image rendered into square model inputs;
* :mod:`.backends` -- running a model on those inputs (OpenCV ``cv2.dnn``, mediapipe);
* :mod:`.detector` -- the combined detector, the process-wide instance, source-pixel helpers.

Boxes are in the pixel frame of the array given to the detector, x1/y1 exclusive; the
``*_source_faces`` helpers return source pixels after EXIF orientation.
"""

from .backends import Backend, MediaPipeShortBackend, OpenCVBlazeFaceBackend, mediapipe_available
from .blazeface import FULL_RANGE, SHORT_RANGE, BlazeFaceModel, decode_detections, ssd_anchors, weighted_nms
from .detector import (
    Candidate,
    DetectionPlan,
    FaceDetector,
    close_all_detectors,
    default_backend,
    detect_faces,
    detect_source_faces,
    get_detector,
    identifiable_faces,
    merge_faces,
    plan_windows,
)
from .face import DEFAULT_MIN_SCORE, DEFAULT_MIN_SIZE_PX, Face
from .windows import Pyramid, Window, window_tensor

__all__ = [
    "Face", "DEFAULT_MIN_SIZE_PX", "DEFAULT_MIN_SCORE",
    "BlazeFaceModel", "SHORT_RANGE", "FULL_RANGE", "ssd_anchors", "decode_detections", "weighted_nms",
    "Pyramid", "Window", "window_tensor",
    "Backend", "OpenCVBlazeFaceBackend", "MediaPipeShortBackend", "mediapipe_available",
    "FaceDetector", "Candidate", "DetectionPlan", "plan_windows", "merge_faces", "default_backend",
    "get_detector", "close_all_detectors", "detect_faces", "detect_source_faces", "identifiable_faces",
]
