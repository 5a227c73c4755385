"""Run the MediaPipe networks on any backend behind the TFLite interpreter's API, and the reverse.

* ``BackendInterpreter`` exposes ``get_input_details / get_output_details / set_tensor / invoke /
  get_tensor`` (what ``hand_perception.core.mediapipe_models`` calls) on top of a torch, ONNX Runtime
  or TensorRT backend of the ported network, with the .tflite's tensor names and shapes, so
  ``PalmDetector`` and ``HandLandmarkModel`` work unchanged: ``make_backend_interpreter(path, backend)``.
* ``TFLiteBackend`` is the other direction: the original .tflite through LiteRT behind the common
  ``Backend`` interface (named inputs/outputs, any batch), used as the reference in tests and in the
  benchmark.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from ..backends import Backend, BackendUnavailable
from ..config import BackendConfig
from ..runtime import create_backend
from .models import MODELS, export_spec_for, kind_of


def make_litert_interpreter(path: str | os.PathLike, num_threads: int = 2):
    """A LiteRT (``ai_edge_litert``) / tflite_runtime / tf.lite interpreter with tensors allocated."""
    errors = []
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"):
        try:
            cls = importlib.import_module(module).Interpreter
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{module}: {exc.__class__.__name__}")
            continue
        it = cls(model_path=str(path), num_threads=max(1, int(num_threads)))
        it.allocate_tensors()
        return it
    raise BackendUnavailable(f"no TFLite interpreter installed ({'; '.join(errors)}): pip install ai-edge-litert==2.3.0")


class TFLiteBackend(Backend):
    """The original .tflite on LiteRT with the port's named I/O; batches run one item at a time."""

    def __init__(self, path: str | os.PathLike, num_threads: int = 2) -> None:
        path = Path(path)
        kind = kind_of(path)
        spec = export_spec_for(path)
        super().__init__(BackendConfig("tflite"), spec.inputs, spec.outputs, spec.name, spec.version)
        self.path = path
        self.interp = make_litert_interpreter(path, num_threads)
        self._in = self.interp.get_input_details()[0]["index"]
        by_name = {d["name"]: d["index"] for d in self.interp.get_output_details()}
        names = MODELS[kind]["outputs"]  # tflite name -> our name
        ours = {v: k for k, v in names.items()}
        self._out = [by_name[ours[t.name]] for t in self.outputs]

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        x = arrays[0]
        per_item = []
        for i in range(x.shape[0]):
            self.interp.set_tensor(self._in, x[i : i + 1])
            self.interp.invoke()
            per_item.append([self.interp.get_tensor(j).copy() for j in self._out])
        return [np.concatenate([p[k] for p in per_item]) for k in range(len(self._out))]


class BackendInterpreter:
    """The subset of the TFLite ``Interpreter`` API used by ``mediapipe_models``, over any ``Backend``.

    Tensor names, indices and shapes are the .tflite's (batch 1), so code written for the interpreter
    (which picks outputs by name or by shape) runs unchanged.
    """

    def __init__(self, backend: Backend, tflite_names: dict[str, str], input_shape: tuple[int, ...],
                 output_shapes: dict[str, tuple[int, ...]]) -> None:
        self.backend = backend
        self._in_name = backend.input_names[0]
        self._in_shape = tuple(input_shape)
        # index 0 = input; outputs 1..n in the backend's output order
        self._outputs = []
        for i, ours in enumerate(backend.output_names, start=1):
            self._outputs.append({"index": i, "name": tflite_names[ours], "ours": ours,
                                  "shape": np.array(output_shapes[ours], dtype=np.int32), "dtype": np.float32})
        self._input: np.ndarray | None = None
        self._result: dict[str, np.ndarray] = {}

    def allocate_tensors(self) -> None:
        pass

    def get_input_details(self) -> list[dict]:
        return [{"index": 0, "name": "input_1", "shape": np.array(self._in_shape, dtype=np.int32), "dtype": np.float32}]

    def get_output_details(self) -> list[dict]:
        return [{k: v for k, v in d.items() if k != "ours"} for d in self._outputs]

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        if index != 0:
            raise ValueError(f"tensor {index} is not the input (0)")
        self._input = np.asarray(value, dtype=np.float32)

    def invoke(self) -> None:
        if self._input is None:
            raise RuntimeError("set_tensor(input) before invoke()")
        self._result = self.backend({self._in_name: self._input})

    def get_tensor(self, index: int) -> np.ndarray:
        if index == 0:
            return self._input
        return self._result[self._outputs[index - 1]["ours"]]


def make_backend_interpreter(model_path: str | os.PathLike, backend: str | BackendConfig,
                             num_threads: int | None = None, artifact_dir: str | os.PathLike | None = None):
    """An interpreter-compatible runner of a MediaPipe palm/landmark .tflite on ``backend``.

    ``backend``: ``'tflite'`` (LiteRT, the original), ``'torch'``, ``'onnxruntime'``,
    ``'onnxruntime:cuda'``, ``'tensorrt'``, ... (see ``BackendConfig``). ONNX / engine artefacts are
    exported on first use into ``artifact_dir`` (default ``$HAND_PERCEPTION_CACHE/engines``) and
    checked against their manifests on every load.
    """
    cfg = BackendConfig.parse(backend)
    if cfg.kind == "tflite":
        return make_litert_interpreter(model_path, num_threads or 2)
    if num_threads and not cfg.threads and cfg.device == "cpu" and cfg.kind == "onnxruntime":
        cfg = BackendConfig.parse(f"{cfg}+threads={int(num_threads)}")
    # torch on the CPU: one intra-op thread unless the backend string asks for more (torch+threads=N).
    # torch's default is one thread per core, and its OpenMP workers spin while they wait: on a CPU
    # shared with other work (a robot computer running other nodes) batch-1 calls of these small
    # networks then take ~10x longer (2-core machine under load: landmark model 487 ms per call with
    # 2 threads, 60 ms with 1; whole estimator p50 499 vs 74 ms; LiteRT 41 ms).
    if not cfg.threads and cfg.device == "cpu" and cfg.kind == "torch":
        cfg = BackendConfig.parse(f"{cfg}+threads=1")
    kind = kind_of(model_path)
    spec = export_spec_for(model_path)
    runner = create_backend(spec, cfg, artifact_dir)
    names = {v: k for k, v in MODELS[kind]["outputs"].items()}
    out_shapes = {t.name: tuple(1 if isinstance(d, str) else d for d in t.shape) for t in spec.outputs}
    in_shape = tuple(1 if isinstance(d, str) else d for d in spec.inputs[0].shape)
    return BackendInterpreter(runner, names, in_shape, out_shapes)
