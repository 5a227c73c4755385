"""MediaPipe palm detector and hand landmark networks ported to torch from the installed wheel's .tflite.

``load_port('palm' | 'landmark')`` -> ``nn.Module``; ``export_spec_for(path)`` -> ``ExportSpec`` (the
registry's ``mediapipe_palm`` / ``mediapipe_landmark``); ``make_backend_interpreter(path, backend)``
-> a TFLite-interpreter-compatible runner on torch / ONNX Runtime / TensorRT; ``TFLiteBackend`` ->
the original .tflite behind the common backend interface.
"""

from .adapter import BackendInterpreter, TFLiteBackend, make_backend_interpreter, make_litert_interpreter
from .graph import GraphDesc, TFLiteGraphModule, UnsupportedGraph, describe
from .models import (
    PORT_TOLERANCE,
    PORT_VERSION,
    ModelFileError,
    export_spec_for,
    landmark_export_spec,
    load_port,
    palm_export_spec,
    tflite_path,
)
from .tflite_reader import TFLiteGraph, read_tflite

__all__ = [
    "BackendInterpreter", "TFLiteBackend", "make_backend_interpreter", "make_litert_interpreter", "GraphDesc",
    "TFLiteGraphModule", "UnsupportedGraph", "describe", "PORT_TOLERANCE", "PORT_VERSION", "ModelFileError",
    "export_spec_for", "landmark_export_spec", "load_port", "palm_export_spec", "tflite_path", "TFLiteGraph",
    "read_tflite",
]
