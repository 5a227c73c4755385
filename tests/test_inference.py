"""Inference layer: backend strings, specs, export with manifests, torch vs ONNX Runtime parity,
manifest refusal/rebuild, registry + export CLI, bench CLI, and TensorRT tests that skip cleanly.

The toy model has two inputs with named dynamic axes (batch, time), a dict output and a masked
softmax pooling, i.e. the shapes and ops of the temporal/forecast networks, small enough to export
in well under a second. Torch vs ONNX Runtime tolerance: rtol 1e-5, atol 1e-5 — both fp32 on the
CPU, same ops; differences are summation order in a 24-term conv and a <=64-term softmax sum
(measured ~1e-7), so 1e-5 leaves 100x headroom while catching any wrong axis or op (errors of O(1)).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnxruntime")

from hand_models.inference import (
    BackendConfig,
    BackendUnavailable,
    DynamicDim,
    ExportSpec,
    InputError,
    ManifestError,
    TensorSpec,
    create_backend,
    list_models,
    load_model,
    register_model,
    unregister_model,
)
from hand_models.inference.bench import bench_main
from hand_models.inference.export import compare, export_main, export_onnx, within
from hand_models.inference.manifest import Manifest, check_manifest, manifest_path, read_manifest, sha256_file
from hand_models.inference.tensorrt_backend import TensorRTBackend, tensorrt_available

TOL = (1e-5, 1e-5)


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv1d(8, 16, 3, padding=1)
        self.head = nn.Linear(16, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x, mask):  # x (B, T, 8), mask (B, T) in {0, 1}
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        y = self.head(h)
        w = torch.softmax(h.mean(-1) + (mask - 1.0) * 1e4, dim=1)
        return {"y": y, "pooled": (w.unsqueeze(-1) * y).sum(1)}


def toy_spec(config: dict | None = None, version: str = "1") -> ExportSpec:
    def example(dims, seed):
        rng = np.random.default_rng(seed)
        mask = (rng.random((dims["batch"], dims["time"])) > 0.2).astype(np.float32)
        mask[:, 0] = 1.0
        return {"x": rng.standard_normal((dims["batch"], dims["time"], 8)).astype(np.float32), "mask": mask}

    return ExportSpec(
        name="toy_test", version=version, module=Toy(),
        inputs=[TensorSpec("x", ("batch", "time", 8)), TensorSpec("mask", ("batch", "time"))],
        outputs=[TensorSpec("y", ("batch", "time", 4)), TensorSpec("pooled", ("batch", 4))],
        dims={"batch": DynamicDim(1, 2, 4), "time": DynamicDim(4, 16, 64)},
        config=dict(config or {}), example_inputs=example, tolerance=TOL,
    )


@pytest.fixture
def toy_registered():
    register_model("toy_test", toy_spec, "toy model for tests", replace=True)
    yield
    unregister_model("toy_test")


@pytest.fixture(scope="module")
def toy_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    return export_onnx(toy_spec(), out)


# --------------------------------------------------------------------------------------------------
# configuration and specs


def test_backend_strings():
    c = BackendConfig.parse("torch")
    assert (c.kind, c.device, c.compile, c.cuda_graphs, c.precision) == ("torch", "cpu", False, False, "fp32")
    c = BackendConfig.parse("torch:cuda+compile+cudagraphs")
    assert (c.device, c.compile, c.cuda_graphs) == ("cuda", True, True)
    assert BackendConfig.parse("ort").kind == "onnxruntime"
    assert BackendConfig.parse("onnxruntime:cuda").device == "cuda"
    trt = BackendConfig.parse("trt")
    assert (trt.kind, trt.device, trt.precision) == ("tensorrt", "cuda", "fp16")
    assert BackendConfig.parse("tensorrt+fp32+rebuild").precision == "fp32"
    assert BackendConfig.parse("onnxruntime+threads=2").threads == 2
    for s in ("torch", "torch:cuda+compile", "onnxruntime:cuda", "tensorrt", "tensorrt+fp32", "onnxruntime+threads=2"):
        assert str(BackendConfig.parse(s)) == s  # round trip
    assert str(BackendConfig.from_parts("onnxruntime+threads=2", "cuda")) == "onnxruntime:cuda+threads=2"
    assert str(BackendConfig.from_parts("torch:cpu", "cuda")) == "torch"
    assert str(BackendConfig.from_parts("tensorrt", "")) == "tensorrt"
    for bad in ("caffe", "torch+cudagraphs", "onnxruntime+compile", "torch+bogus", "tflite:cuda", ""):
        with pytest.raises(ValueError):
            BackendConfig.parse(bad)


def test_tensor_spec_binds_named_axes():
    x, m = TensorSpec("x", ("batch", "time", 8)), TensorSpec("mask", ("batch", "time"))
    dims: dict = {}
    assert x.matches((2, 5, 8), dims) and m.matches((2, 5), dims)
    assert not m.matches((2, 6), dict(dims))  # time already bound to 5
    assert not x.matches((2, 5, 7)) and not x.matches((2, 5))
    assert x.concrete({"batch": 3, "time": 4}) == (3, 4, 8)
    with pytest.raises(ValueError, match="without a range"):
        ExportSpec("m", "1", Toy(), [x], [TensorSpec("y", ("batch", 4))], dims={"batch": DynamicDim(1, 1, 2)})
    with pytest.raises(ValueError):
        DynamicDim(2, 1, 4)


# --------------------------------------------------------------------------------------------------
# export and parity


def test_export_writes_onnx_and_manifest(toy_onnx):
    import onnx

    m = read_manifest(toy_onnx)
    assert (m.model, m.version, m.kind, m.file) == ("toy_test", "1", "onnx", "toy_test.onnx")
    assert m.sha256 == sha256_file(toy_onnx) and m.opset >= 17
    assert m.inputs == [{"name": "x", "shape": ["batch", "time", 8], "dtype": "float32"},
                        {"name": "mask", "shape": ["batch", "time"], "dtype": "float32"}]
    assert m.dims == {"batch": [1, 2, 4], "time": [4, 16, 64]}
    assert "torch" in m.software and "onnxruntime" in m.software
    assert m.rebuild_command.startswith("hand-perception export toy_test --format onnx --out ")
    sizes = m.parity["onnxruntime_cpu_vs_torch"]
    assert len(sizes) == 2 and all(e["max_abs_err"] < 1e-5 for s in sizes.values() for e in s.values())
    g = onnx.load(str(toy_onnx)).graph
    assert [d.dim_param or d.dim_value for d in g.input[0].type.tensor_type.shape.dim] == ["batch", "time", 8]
    assert [d.dim_param or d.dim_value for d in g.output[1].type.tensor_type.shape.dim] == ["batch", 4]


@pytest.mark.parametrize("batch,time", [(1, 4), (3, 37), (4, 64)])
def test_torch_vs_onnxruntime_at_dynamic_sizes(toy_onnx, batch, time):
    spec = toy_spec()
    arrays = spec.make_inputs({"batch": batch, "time": time}, seed=batch * 100 + time)
    ref = create_backend(spec, "torch")(arrays)
    got = create_backend(spec, "onnxruntime", toy_onnx.parent, auto_export=False)(arrays)
    errs = compare(ref, got)
    assert not within(errs, TOL), errs


def test_backends_share_one_interface(toy_onnx):
    spec = toy_spec()
    backends = [create_backend(spec, b, toy_onnx.parent, auto_export=False) for b in ("torch", "onnxruntime")]
    arrays = spec.make_inputs({"batch": 2, "time": 9})
    arrays64 = {k: v.astype(np.float64) for k, v in arrays.items()}  # other dtypes are cast to the spec's
    outs = [b(arrays64) for b in backends]
    for o in outs:
        assert list(o) == ["y", "pooled"]
        assert o["y"].shape == (2, 9, 4) and o["pooled"].shape == (2, 4)
        assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in o.values())
    for b in backends:
        assert b.input_names == ["x", "mask"] and b.output_names == ["y", "pooled"]
        with pytest.raises(InputError, match="missing"):
            b({"x": arrays["x"]})
        with pytest.raises(InputError, match="shape"):
            b({"x": arrays["x"], "mask": arrays["mask"][:, :5]})  # time disagrees between inputs
        with pytest.raises(InputError, match="shape"):
            b({"x": arrays["x"][..., :7], "mask": arrays["mask"]})
    assert backends[1].info()["providers"] == ["CPUExecutionProvider"]


# --------------------------------------------------------------------------------------------------
# manifests: refuse, explain, rebuild


def test_manifest_refuses_modified_artifact(toy_onnx, tmp_path):
    import shutil

    p = tmp_path / toy_onnx.name
    shutil.copy(toy_onnx, p)
    shutil.copy(manifest_path(toy_onnx), manifest_path(p))
    check_manifest(p)
    with open(p, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match=r"sha256 .* rebuild it with: hand-perception export toy_test"):
        create_backend(toy_spec(), "onnxruntime", tmp_path, auto_export=False)
    manifest_path(p).unlink()
    with pytest.raises(ManifestError, match="no manifest"):
        check_manifest(p)


def test_manifest_refuses_other_model_version_and_rebuilds_on_request(toy_onnx, tmp_path):
    import shutil

    shutil.copy(toy_onnx, tmp_path / toy_onnx.name)
    shutil.copy(manifest_path(toy_onnx), manifest_path(tmp_path / toy_onnx.name))
    v2 = toy_spec(version="2")
    with pytest.raises(ManifestError, match=r"version is '1', expected '2'.*rebuild it with"):
        create_backend(v2, "onnxruntime", tmp_path, auto_export=False)
    with pytest.raises(ManifestError, match="config_hash"):
        create_backend(toy_spec({"hidden": 32}), "onnxruntime", tmp_path)
    b = create_backend(v2, "onnxruntime+rebuild", tmp_path)  # the backend string allows rebuilding
    assert b.manifest.version == "2" and read_manifest(tmp_path / toy_onnx.name).version == "2"


def test_missing_artifact_is_exported_or_explained(tmp_path):
    with pytest.raises(ManifestError, match="hand-perception export toy_test"):
        create_backend(toy_spec(), "onnxruntime", tmp_path, auto_export=False)
    b = create_backend(toy_spec(), "onnxruntime", tmp_path)  # auto_export (default)
    assert (tmp_path / "toy_test.onnx").is_file() and b.manifest.model == "toy_test"


def test_engine_manifest_must_match_tensorrt_version_and_gpu(tmp_path):
    """Engines only run on the TensorRT version and GPU model that built them (checked without TensorRT)."""
    eng = tmp_path / "toy_test.fp16.engine"
    eng.write_bytes(b"serialized engine")
    Manifest(model="toy_test", version="1", config_hash="x", kind="tensorrt", file=eng.name, sha256=sha256_file(eng),
             inputs=[], outputs=[], precision="fp16",
             builder={"tensorrt": "10.3.0", "gpu": "NVIDIA H100 80GB HBM3", "cuda": "12.4"},
             rebuild_command="hand-perception export toy_test --format tensorrt --out X").write(eng)
    check_manifest(eng, runtime={"tensorrt": "10.3.0", "gpu": "NVIDIA H100 80GB HBM3"})
    with pytest.raises(ManifestError, match=r"gpu='NVIDIA H100 80GB HBM3'.*rebuild it with: hand-perception export toy_test --format tensorrt"):
        check_manifest(eng, runtime={"tensorrt": "10.3.0", "gpu": "NVIDIA L4"})
    with pytest.raises(ManifestError, match="tensorrt='10.3.0'"):
        check_manifest(eng, runtime={"tensorrt": "10.8.0", "gpu": "NVIDIA H100 80GB HBM3"})
    with pytest.raises(ManifestError, match="precision"):
        check_manifest(eng, expected={"precision": "fp32"})


# --------------------------------------------------------------------------------------------------
# registry and CLIs


def test_registry_lists_builtin_models():
    models = list_models()
    assert {"mediapipe_palm", "mediapipe_landmark"} <= set(models)
    with pytest.raises(KeyError, match="unknown model"):
        load_model("no_such_model")


OTHER_MODELS = [n for n in list_models() if not n.startswith("mediapipe_")]  # MediaPipe: test_mediapipe_port.py


@pytest.mark.parametrize("name", OTHER_MODELS or ["(none registered)"])
def test_every_registered_model_exports_with_onnxruntime_parity(name, tmp_path):
    """Every registered, importable model exports to ONNX and matches torch on ONNX Runtime at two batch
    sizes within its own declared tolerance (export_onnx raises ExportParityError otherwise)."""
    if name not in list_models():
        pytest.skip("no other model registered")
    from hand_models.inference import get_export_spec

    spec = get_export_spec(name)
    m = read_manifest(export_onnx(spec, tmp_path))
    assert m.parity["onnxruntime_cpu_vs_torch"] and m.model == spec.name
    b = create_backend(spec, "onnxruntime", tmp_path, auto_export=False)
    arrays = spec.make_inputs(seed=3)
    assert not within(compare(create_backend(spec, "torch")(arrays), b(arrays)), spec.tolerance)


def test_export_cli(toy_registered, tmp_path, capsys):
    assert export_main(["--list"]) == 0
    assert "toy_test" in capsys.readouterr().out
    assert export_main(["toy_test", "--out", str(tmp_path), "--config", "note=cli"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["model"] == "toy_test" and line["format"] == "onnx"
    m = read_manifest(tmp_path / "toy_test.onnx")
    assert m.config == {"note": "cli"} and "--config note=cli" in m.rebuild_command
    assert export_main(["nope", "--out", str(tmp_path)]) == 2
    b = load_model("toy_test", "onnxruntime", config={"note": "cli"}, artifact_dir=tmp_path, auto_export=False)
    assert b.manifest.sha256 == m.sha256


def test_bench_cli_prints_json_last(toy_registered, tmp_path, capsys):
    rc = bench_main(["--models", "toy_test", "--backends", "torch,onnxruntime", "--quick", "--no-isolate",
                     "--threads", "1", "--artifact-dir", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    res = json.loads(out[-1])
    assert res["benchmark"] == "inference_backends" and len(res["results"]) == 2
    for r in res["results"]:
        assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["throughput_per_s"] > 0 and r["peak_rss_mb"] > 0


def test_bench_isolated_cell_on_tflite():
    """One cell in its own process (how peak memory is measured): the MediaPipe landmark net on LiteRT."""
    pytest.importorskip("ai_edge_litert")
    from hand_models.inference.bench import _run_isolated

    r = _run_isolated({"model": "mediapipe_landmark", "backend": "tflite", "batch": 1, "iters": 5, "warmup": 1,
                       "threads": 1}, timeout=120)
    assert "error" not in r, r
    assert r["model_rss_mb"] > 0 and r["p50_ms"] > 0


# --------------------------------------------------------------------------------------------------
# GPU backends: skip cleanly without them


def test_gpu_backends_unavailable_are_explained(toy_onnx):
    ok, why = tensorrt_available()
    if ok:
        pytest.skip("TensorRT is available here")
    with pytest.raises(BackendUnavailable, match=r"TensorRT|CUDA"):
        TensorRTBackend(toy_onnx.with_suffix(".fp16.engine"))
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="CUDA"):
            create_backend(toy_spec(), "torch:cuda")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
            create_backend(toy_spec(), "onnxruntime:cuda", toy_onnx.parent, auto_export=False)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_build_and_parity(toy_onnx, tmp_path, precision):
    ok, why = tensorrt_available()
    if not ok:
        pytest.skip(f"TensorRT tests skipped: {why}")
    from hand_models.inference.export import export_tensorrt

    spec = toy_spec()
    engine = export_tensorrt(spec, toy_onnx, tmp_path, precision=precision, timing_cache=tmp_path / "tc.cache")
    assert (tmp_path / "tc.cache").is_file()
    m = read_manifest(engine)
    assert m.kind == "tensorrt" and m.precision == precision and m.builder["profiles"]["x"][2] == [4, 64, 8]
    b = create_backend(spec, "tensorrt" + ("+fp32" if precision == "fp32" else ""), tmp_path, auto_export=False)
    tol = TOL if precision == "fp32" else (1e-2, 1e-2)
    for batch, time in ((1, 4), (3, 37), (4, 64)):
        arrays = spec.make_inputs({"batch": batch, "time": time}, seed=7)
        errs = compare(create_backend(spec, "torch")(arrays), b(arrays))
        assert not within(errs, tol), errs


def test_torch_compile_option_on_cpu():
    """``torch+compile`` (Inductor, C++ on the CPU) gives torch's outputs: the compile path the GPU
    option uses, exercised here (first call compiles: ~20 s on 2 cores; cached afterwards)."""
    spec = toy_spec()
    arrays = spec.make_inputs({"batch": 2, "time": 16}, seed=5)
    ref = create_backend(spec, "torch")(arrays)
    b = create_backend(toy_spec(), "torch+compile")
    assert b.config.compile
    for _ in range(2):
        assert not within(compare(ref, b(arrays)), (1e-5, 1e-5))


@pytest.mark.parametrize("flags", ["", "+cudagraphs", "+compile"])
def test_torch_cuda_options(flags):
    if not torch.cuda.is_available():
        pytest.skip("torch CUDA options need a CUDA GPU")
    spec = toy_spec()
    arrays = spec.make_inputs({"batch": 2, "time": 16})
    ref = create_backend(spec, "torch")(arrays)
    b = create_backend(toy_spec(), "torch:cuda" + flags)
    for _ in range(3):  # the CUDA-graph path captures on the first call and replays afterwards
        got = b(arrays)
    assert not within(compare(ref, got), (1e-4, 1e-4))


# --------------------------------------------------------------------------------------------------
# TensorRT 10 / 11: network typing and the mixed-fp16 graph (checked on the CPU)


def test_choose_typing_per_tensorrt_version():
    from hand_models.inference.tensorrt_backend import choose_typing, tensorrt_major

    assert tensorrt_major("10.13.3.9") == 10 and tensorrt_major("11.4.0.106") == 11
    assert choose_typing("10.13.3.9") == "weak" and choose_typing("11.4.0.106") == "strong"
    assert choose_typing("10.13.3.9", "strong") == "strong"
    with pytest.raises(ValueError, match="strongly typed networks only"):
        choose_typing("11.0.0", "weak")
    with pytest.raises(ValueError, match="typing must be"):
        choose_typing("10.0", "fp16")
    with pytest.raises(ValueError, match="unrecognised"):
        choose_typing("x.y")


@pytest.mark.parametrize("name", ["toy_test", *list_models()])
def test_mixed_fp16_onnx_matches_torch(name, tmp_path):
    """The graph a strongly typed fp16 engine is built from: fp16 weights inside, fp32 inputs and
    outputs, and ONNX Runtime (CPU) on it within the fp16 tolerance (1e-2 of the output range + the
    fp32 tolerance) of torch at two sizes; export_mixed_fp16 raises ExportParityError otherwise."""
    import onnx

    from hand_models.inference import get_export_spec
    from hand_models.inference.export import export_mixed_fp16, fp16_tolerance

    spec = toy_spec() if name == "toy_test" else get_export_spec(name)
    onnx_path = export_onnx(spec, tmp_path, check=False)
    path, parity = export_mixed_fp16(spec, onnx_path)
    assert path.name == f"{spec.name}.fp16.onnx" and len(parity) >= 1
    model = onnx.load(str(path))
    f16 = onnx.TensorProto.FLOAT16
    assert sum(i.data_type == f16 for i in model.graph.initializer) >= 0.5 * len(model.graph.initializer)
    fp32_model = onnx.load(str(onnx_path))
    io_types = lambda m: [v.type.tensor_type.elem_type for v in list(m.graph.input) + list(m.graph.output)]  # noqa: E731
    assert io_types(model) == io_types(fp32_model) and f16 not in io_types(model)
    for errs in parity.values():
        assert not within(errs, fp16_tolerance(spec)), errs
    # and it really runs in reduced precision: not bit-identical to fp32
    assert any(e["max_abs_err"] > 1e-6 for errs in parity.values() for e in errs.values())


class _FakeTensorRT:
    """The slice of the ``tensorrt`` module build_engine touches, in the shape of version ``version``:
    11.x has no BuilderFlag.FP16, no Builder.platform_has_fast_fp16, no EXPLICIT_BATCH."""

    def __init__(self, version: str) -> None:
        import types

        self.__version__ = version
        self.calls: list[tuple] = []
        major = int(version.split(".")[0])
        calls = self.calls
        self.Logger = type("Logger", (), {"VERBOSE": 0, "WARNING": 2, "__init__": lambda s, lvl: None})
        flags = {"STRONGLY_TYPED": 1} if major >= 11 else {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(**flags)
        self.BuilderFlag = types.SimpleNamespace(**({} if major >= 11 else {"FP16": 0}))
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)

        class Cache:
            def serialize(self):
                return b"cache"

        class Config:
            def set_memory_pool_limit(self, pool, size):
                calls.append(("workspace", size))

            def set_flag(self, flag):
                calls.append(("flag", flag))

            def add_optimization_profile(self, p):
                calls.append(("profile",))

            def create_timing_cache(self, data):
                return Cache()

            def set_timing_cache(self, cache, ignore_mismatch):
                calls.append(("timing_cache",))

            def get_timing_cache(self):
                return Cache()

        class Profile:
            def set_shape(self, name, lo, opt, hi):
                calls.append(("shape", name, tuple(lo), tuple(opt), tuple(hi)))

        class Builder:
            def __init__(self, logger):
                if major < 11:
                    self.platform_has_fast_fp16 = True

            def create_network(self, flags):
                calls.append(("network", flags))
                return object()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return b"engine"

        class Parser:
            num_errors = 0

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                calls.append(("parse", path))
                return True

        self.Builder, self.OnnxParser = Builder, Parser


@pytest.mark.parametrize("version,typing,expect_flags,expect_fp16_flag", [
    ("10.13.3.9", "auto", 0, True),
    ("10.13.3.9", "strong", 2, False),
    ("11.4.0.106", "auto", 2, False),
])
def test_build_engine_calls_the_api_of_each_tensorrt_version(monkeypatch, tmp_path, version, typing,
                                                             expect_flags, expect_fp16_flag):
    """No GPU needed: build_engine against a stand-in module shaped like TensorRT 10 / 11 (missing
    attributes raise AttributeError, as the removed APIs would)."""
    from hand_models.inference import tensorrt_backend

    fake = _FakeTensorRT(version)
    monkeypatch.setattr(tensorrt_backend, "_import_trt", lambda: fake)
    spec = toy_spec()
    info = tensorrt_backend.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", spec.inputs, spec.dims, fp16=True,
                                         timing_cache=tmp_path / "tc.cache", typing=typing)
    assert (tmp_path / "m.engine").read_bytes() == b"engine" and (tmp_path / "tc.cache").read_bytes() == b"cache"
    assert ("network", expect_flags) in fake.calls
    assert (("flag", 0) in fake.calls) == expect_fp16_flag
    assert ("shape", "x", (1, 4, 8), (2, 16, 8), (4, 64, 8)) in fake.calls
    assert info["typing"] == ("weak" if expect_fp16_flag else "strong")
    if version.startswith("11"):
        with pytest.raises(ValueError, match="strongly typed networks only"):
            tensorrt_backend.build_engine(tmp_path / "m.onnx", tmp_path / "m2.engine", spec.inputs, spec.dims,
                                          typing="weak")
