"""TensorRT: engine build from ONNX (fp16, optimisation profiles, timing cache) and the runtime backend.

Written against the TensorRT 10 and 11 Python APIs (name-based I/O tensors, ``execute_async_v3``,
``build_serialized_network``). fp16 engines: TensorRT 10 builds them weakly typed (fp32 graph +
``BuilderFlag.FP16``); TensorRT 11 removed weak typing, so there the graph is first rewritten to
mixed fp16 (``precision.to_mixed_fp16``) and built strongly typed (``choose_typing``). The
``tensorrt`` module is imported lazily, so this module imports anywhere;
``tensorrt_available()`` says whether engines can be built and run here (package + CUDA GPU).
Device buffers are torch CUDA tensors (no pycuda / cuda-python dependency).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .backends import Backend, BackendUnavailable
from .config import BackendConfig
from .manifest import check_manifest
from .specs import DynamicDim, TensorSpec

DEFAULT_WORKSPACE_BYTES = 2 << 30


def _import_trt():
    try:
        import tensorrt as trt  # noqa: PLC0415
    except ImportError as exc:
        raise BackendUnavailable(
            "TensorRT is not installed: pip install tensorrt-cu12 (10.x or 11.x, matching your CUDA) or use the Docker image; "
            "'onnxruntime:cuda' or 'torch:cuda' run without it"
        ) from exc
    return trt


def tensorrt_available() -> tuple[bool, str]:
    """(True, version) when TensorRT imports and a CUDA GPU is visible to torch, else (False, reason)."""
    try:
        trt = _import_trt()
    except BackendUnavailable as exc:
        return False, str(exc)
    try:
        import torch

        if not torch.cuda.is_available():
            return False, f"TensorRT {trt.__version__} is installed but no CUDA GPU is visible to torch"
    except Exception as exc:  # noqa: BLE001
        return False, f"torch cannot query CUDA: {exc}"
    return True, trt.__version__


def runtime_info() -> dict:
    """TensorRT version, CUDA version and GPU name of this machine (what an engine manifest must match)."""
    info: dict = {}
    try:
        import tensorrt as trt

        info["tensorrt"] = trt.__version__
    except ImportError:
        pass
    try:
        import torch

        info["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
            cc = torch.cuda.get_device_capability()
            info["compute_capability"] = f"{cc[0]}.{cc[1]}"
    except Exception:  # noqa: BLE001
        pass
    return info


def tensorrt_major(version: str) -> int:
    """Major version number of a TensorRT version string ('10.13.3.9' -> 10)."""
    try:
        return int(str(version).split(".")[0])
    except ValueError as exc:
        raise ValueError(f"unrecognised TensorRT version {version!r}") from exc


TYPINGS = ("auto", "strong", "weak")


def choose_typing(version: str, requested: str = "auto") -> str:
    """'strong' or 'weak' network typing for a build with TensorRT ``version``.

    ``auto`` is weak on TensorRT < 11 (the builder may keep layers in fp32) and strong from 11 on,
    where weak typing no longer exists; asking for ``weak`` on 11+ is an error that says so.
    """
    if requested not in TYPINGS:
        raise ValueError(f"typing must be one of {TYPINGS}, got {requested!r}")
    major = tensorrt_major(version)
    if requested == "auto":
        return "strong" if major >= 11 else "weak"
    if requested == "weak" and major >= 11:
        raise ValueError(f"TensorRT {version} builds strongly typed networks only (weak typing was removed in 11); "
                         "use typing 'strong' or 'auto'")
    return requested


def _logger(trt, verbose: bool = False):
    return trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    inputs: Sequence[TensorSpec],
    dims: dict[str, DynamicDim],
    fp16: bool = True,
    timing_cache: str | os.PathLike | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    verbose: bool = False,
    typing: str = "auto",
) -> dict:
    """Parse ``onnx_path``, build a serialized engine at ``engine_path``; return builder details.

    ``typing`` goes through ``choose_typing``. Weak (TensorRT < 11 only): ``fp16`` sets
    ``BuilderFlag.FP16`` on the fp32 graph. Strong: tensor types come from the graph, so pass a
    mixed-fp16 ONNX (``precision.to_mixed_fp16``) for an fp16 engine; ``fp16`` is then only recorded. One optimisation profile covers every named dynamic
    axis with its (min, opt, max). The timing cache (if given) is loaded before and saved after the
    build, so rebuilds are fast.
    """
    trt = _import_trt()
    typing = choose_typing(trt.__version__, typing)
    logger = _logger(trt, verbose)
    builder = trt.Builder(logger)
    flags = 0
    if tensorrt_major(trt.__version__) < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if typing == "strong":  # required flag on 10.x, accepted and ignored on 11.x (always strong)
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if fp16 and typing == "weak":
        if not builder.platform_has_fast_fp16:
            raise RuntimeError("fp16 requested but this GPU has no fast fp16; rebuild with --precision fp32")
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile_desc = {}
    for t in inputs:
        if t.dynamic_axes:
            lo = t.concrete({k: v.min for k, v in dims.items()})
            opt = t.concrete({k: v.opt for k, v in dims.items()})
            hi = t.concrete({k: v.max for k, v in dims.items()})
            profile.set_shape(t.name, lo, opt, hi)
            profile_desc[t.name] = [list(lo), list(opt), list(hi)]
    if profile_desc:
        config.add_optimization_profile(profile)
    cache_bytes = b""
    if timing_cache is not None and Path(timing_cache).is_file():
        cache_bytes = Path(timing_cache).read_bytes()
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    Path(engine_path).write_bytes(bytes(serialized))
    if timing_cache is not None:
        Path(timing_cache).parent.mkdir(parents=True, exist_ok=True)
        Path(timing_cache).write_bytes(bytes(config.get_timing_cache().serialize()))
    info = runtime_info()
    info.update(fp16=bool(fp16), typing=typing, profiles=profile_desc, workspace_bytes=int(workspace_bytes),
                timing_cache=str(timing_cache) if timing_cache else None)
    return info


def _torch_dtype(trt, dt):
    import torch

    return {
        trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
        trt.int64: torch.int64, trt.bool: torch.bool, trt.int8: torch.int8,
    }[dt]


class TensorRTBackend(Backend):
    """A serialized engine on one GPU; inputs/outputs as in its manifest (numpy in, numpy out)."""

    def __init__(self, path: str | os.PathLike, config: BackendConfig | str = "tensorrt",
                 expected: dict | None = None, verify_sha256: bool = True) -> None:
        config = BackendConfig.parse(config)
        ok, why = tensorrt_available()
        if not ok:
            raise BackendUnavailable(why)
        trt = _import_trt()
        import torch

        self.path = Path(path)
        manifest = check_manifest(self.path, expected=dict(expected or {}, kind="tensorrt"),
                                  runtime=runtime_info(), verify_sha256=verify_sha256)
        super().__init__(config, [TensorSpec.from_dict(d) for d in manifest.inputs],
                         [TensorSpec.from_dict(d) for d in manifest.outputs], manifest.model, manifest.version)
        self.manifest = manifest
        self.device = torch.device(config.device)
        torch.cuda.set_device(self.device)
        self._trt = trt
        self._runtime = trt.Runtime(_logger(trt))
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{self.path}: TensorRT could not deserialize the engine; {manifest.rebuild_command}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        ins = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if sorted(ins) != sorted(self.input_names) or sorted(outs) != sorted(self.output_names):
            raise RuntimeError(f"{self.path}: engine I/O {ins}/{outs} differ from the manifest; {manifest.rebuild_command}")
        self._dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}
        self._stream = torch.cuda.Stream(self.device)
        self._out_buffers: dict[str, torch.Tensor] = {}

    def _run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        keep = []
        with torch.cuda.stream(self._stream):
            for name, a in zip(self.input_names, arrays):
                t = torch.from_numpy(a).to(self.device, non_blocking=True).to(self._dtypes[name]).contiguous()
                keep.append(t)
                self.context.set_input_shape(name, tuple(t.shape))
                self.context.set_tensor_address(name, t.data_ptr())
            outs = []
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                buf = self._out_buffers.get(name)
                if buf is None or tuple(buf.shape) != shape:
                    buf = self._out_buffers[name] = torch.empty(shape, dtype=self._dtypes[name], device=self.device)
                self.context.set_tensor_address(name, buf.data_ptr())
                outs.append(buf)
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            result = [o.float().cpu() if o.is_floating_point() else o.cpu() for o in outs]
        self._stream.synchronize()
        return [r.numpy() for r in result]

    def info(self) -> dict:
        return dict(super().info(), path=str(self.path), builder=self.manifest.builder if self.manifest else None)
