"""The backends: one interface, ``backend(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]``.

* ``TorchBackend``: the ``nn.Module`` itself (eager; ``torch.compile`` and CUDA graphs on GPU).
* ``OnnxRuntimeBackend``: an exported ``.onnx`` (CPU or CUDA execution provider), manifest-checked.
* ``TensorRTBackend`` (``tensorrt_backend.py``): a serialized engine, manifest-checked.

Every backend validates inputs against the same ``TensorSpec`` list (names, shapes with named dynamic
axes, dtypes; arrays of another dtype are cast) and returns outputs keyed by the spec's output names
as contiguous numpy arrays of the spec's dtype, so stages can switch backend by configuration only.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import BackendConfig
from .manifest import Manifest, check_manifest
from .specs import TensorSpec


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (package or device missing); the message says what to install."""


class InputError(ValueError):
    """Inputs do not match the model's input specification."""


def _np_dtype(dtype: str):
    return np.bool_ if dtype == "bool" else np.dtype(dtype)


class Backend(ABC):
    """Common interface. Subclasses implement ``_run(list of arrays in input order) -> list of arrays``."""

    def __init__(self, config: BackendConfig, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                 model: str = "", version: str = "") -> None:
        self.config = config
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.model = model
        self.version = version
        self.manifest: Manifest | None = None
        self.calls = 0
        self.total_s = 0.0

    @property
    def name(self) -> str:
        return str(self.config)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def prepare(self, inputs: dict[str, Any]) -> list[np.ndarray]:
        missing = [t.name for t in self.inputs if t.name not in inputs]
        extra = sorted(set(inputs) - set(self.input_names))
        if missing or extra:
            raise InputError(f"{self.model or 'model'}: inputs {sorted(inputs)} do not match the expected "
                             f"{self.input_names} (missing {missing}, unexpected {extra})")
        dims: dict[str, int] = {}
        arrays = []
        for t in self.inputs:
            a = np.ascontiguousarray(inputs[t.name], dtype=_np_dtype(t.dtype))
            if not t.matches(a.shape, dims):
                raise InputError(f"{self.model or 'model'}: input {t.name} has shape {a.shape}, expected "
                                 f"{t.shape} (named axes must agree across inputs: {dims})")
            arrays.append(a)
        return arrays

    def __call__(self, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        arrays = self.prepare(inputs)
        t0 = time.perf_counter()
        outs = self._run(arrays)
        self.total_s += time.perf_counter() - t0
        self.calls += 1
        if len(outs) != len(self.outputs):
            raise RuntimeError(f"{self.name}: produced {len(outs)} outputs, expected {len(self.outputs)}")
        return {t.name: np.ascontiguousarray(o, dtype=_np_dtype(t.dtype)) for t, o in zip(self.outputs, outs)}

    run = __call__

    @abstractmethod
    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]: ...

    def info(self) -> dict:
        d = {"backend": self.name, "model": self.model, "version": self.version,
             "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}
        if self.manifest is not None:
            d["artifact_sha256"] = self.manifest.sha256
        return d

    def close(self) -> None:  # noqa: B027 - optional
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------
# torch


def _as_output_list(y, names: Sequence[str]) -> list:
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        if missing:
            raise RuntimeError(f"module output dict lacks {missing}")
        return [y[n] for n in names]
    if isinstance(y, (tuple, list)):
        return list(y)
    return [y]


class _CudaGraphRunner:
    """Captures ``fn`` once per input signature (shapes, dtypes) and replays the graph afterwards."""

    def __init__(self, fn, device, max_graphs: int = 16) -> None:
        self.fn, self.device, self.max_graphs = fn, device, max_graphs
        self.graphs: dict = {}

    def __call__(self, *xs):
        import torch

        key = tuple((tuple(x.shape), x.dtype) for x in xs)
        entry = self.graphs.get(key)
        if entry is None:
            if len(self.graphs) >= self.max_graphs:
                return self.fn(*xs)  # too many shapes: eager
            static_in = [x.clone() for x in xs]
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up allocator / cuDNN autotuning outside the capture
                    self.fn(*static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.fn(*static_in)
            entry = self.graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = entry
        for s, x in zip(static_in, xs):
            s.copy_(x)
        graph.replay()
        return static_out


class TorchBackend(Backend):
    """Runs the ``nn.Module`` directly (``module(*inputs)``), under ``torch.inference_mode``."""

    def __init__(self, module, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                 config: BackendConfig | str = "torch", model: str = "", version: str = "") -> None:
        import torch

        config = BackendConfig.parse(config)
        if config.kind != "torch":
            raise ValueError(f"TorchBackend got config {config}")
        super().__init__(config, inputs, outputs, model, version)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(f"{config}: CUDA is not available to torch here (torch {torch.__version__}); "
                                     "use 'torch' (CPU) or install a CUDA build of torch")
        if config.precision == "fp16" and self.device.type != "cuda":
            raise BackendUnavailable(f"{config}: fp16 is only supported on CUDA")
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self.dtype = torch.float16 if config.precision == "fp16" else torch.float32
        module = module.eval().to(self.device)
        if config.precision == "fp16":
            module = module.half()
        self.module = module
        fn = self._forward
        if config.compile:
            mode = "reduce-overhead" if config.cuda_graphs else None  # Inductor's own CUDA graphs
            self._compiled = torch.compile(module, mode=mode, dynamic=None)
            fn = self._forward_compiled
        elif config.cuda_graphs:
            fn = _CudaGraphRunner(self._forward, self.device)
        self._fn = fn

    def _forward(self, *xs):
        return tuple(_as_output_list(self.module(*xs), self.output_names))

    def _forward_compiled(self, *xs):
        return tuple(_as_output_list(self._compiled(*xs), self.output_names))

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            xs = []
            for a in arrays:
                t = torch.from_numpy(a).to(self.device, non_blocking=True)
                if t.is_floating_point():
                    t = t.to(self.dtype)
                xs.append(t)
            ys = self._fn(*xs)
            return [y.detach().float().cpu().numpy() if y.is_floating_point() else y.detach().cpu().numpy()
                    for y in ys]


# --------------------------------------------------------------------------------------------------
# ONNX Runtime


def ort_providers(device: str) -> list:
    """Execution providers for ``device`` ('cpu' or 'cuda[:N]'), or ``BackendUnavailable``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)") from exc
    if device == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise BackendUnavailable(f"onnxruntime {ort.__version__} here has no CUDAExecutionProvider "
                                 f"(available: {available}); pip install onnxruntime-gpu matching your CUDA, or use 'onnxruntime' (CPU)")
    dev_id = int(device.split(":")[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": dev_id}), "CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    """An exported ONNX model in an ``onnxruntime.InferenceSession``; the manifest is checked first."""

    def __init__(self, path: str | os.PathLike, config: BackendConfig | str = "onnxruntime",
                 expected: dict | None = None, verify_sha256: bool = True) -> None:
        import onnxruntime as ort

        config = BackendConfig.parse(config)
        providers = ort_providers(config.device)
        self.path = Path(path)
        manifest = check_manifest(self.path, expected=dict(expected or {}, kind="onnx"), verify_sha256=verify_sha256)
        super().__init__(config, [TensorSpec.from_dict(d) for d in manifest.inputs],
                         [TensorSpec.from_dict(d) for d in manifest.outputs], manifest.model, manifest.version)
        self.manifest = manifest
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if config.threads:
            so.intra_op_num_threads = int(config.threads)
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        got_in = [i.name for i in self.session.get_inputs()]
        got_out = [o.name for o in self.session.get_outputs()]
        if got_in != self.input_names or got_out != self.output_names:
            raise RuntimeError(f"{self.path}: graph inputs/outputs {got_in}/{got_out} differ from its manifest "
                               f"{self.input_names}/{self.output_names}; {manifest.rebuild_command}")
        self.providers = self.session.get_providers()

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.output_names, dict(zip(self.input_names, arrays)))

    def info(self) -> dict:
        return dict(super().info(), providers=self.providers, path=str(self.path))
