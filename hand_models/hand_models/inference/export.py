"""Export: any ``nn.Module`` + ``ExportSpec`` -> ONNX (+ TensorRT engine where available), each with a manifest.

ONNX is written by ``torch.onnx.export`` (TorchScript tracer by default, opset 17+, named dynamic
axes from the spec; ``exporter="dynamo"`` uses the torch.export-based exporter when onnxscript is
installed), checked with ``onnx.checker`` and compared with torch on ONNX Runtime (CPU) at the
example size and at a second size of every dynamic axis; the measured errors go into the manifest,
and an export whose error exceeds the spec's tolerance is refused. Engines are built from that ONNX
with one optimisation profile spanning each dynamic axis' (min, opt, max), fp16 by default and a
shared timing cache, and checked against torch the same way when a GPU is present.

CLI (wired as ``hand-perception export``)::

    hand-perception export --list
    hand-perception export mediapipe_palm mediapipe_landmark --out DIR [--format onnx|tensorrt|all]
                           [--precision fp16|fp32] [--typing auto|strong|weak] [--opset 17]
                           [--config key=value ...]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .manifest import Manifest, sha256_file, software_versions
from .registry import get_export_spec, list_models
from .specs import ExportSpec, dims_to_dict, specs_to_dicts

MIN_OPSET = 17


class ExportParityError(RuntimeError):
    """The exported artefact's outputs differ from torch by more than the spec's tolerance."""


def default_artifact_dir() -> Path:
    """``$HAND_PERCEPTION_CACHE/engines`` (or ``~/.cache/hand_perception/engines``)."""
    root = os.environ.get("HAND_PERCEPTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hand_perception")
    return Path(root) / "engines"


def artifact_path(out_dir: str | Path, name: str, kind: str, precision: str = "fp16") -> Path:
    out_dir = Path(out_dir)
    if kind == "onnx":
        return out_dir / f"{name}.onnx"
    if kind == "tensorrt":
        return out_dir / f"{name}.{precision}.engine"
    raise ValueError(f"unknown artefact kind {kind!r}")


def rebuild_command(name: str, kind: str, out_dir: str | Path, config: dict | None = None,
                    precision: str | None = None) -> str:
    parts = ["hand-perception", "export", name, "--format", kind, "--out", str(out_dir)]
    if kind == "tensorrt" and precision:
        parts += ["--precision", precision]
    for k, v in sorted((config or {}).items()):
        parts += ["--config", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return " ".join(shlex.quote(p) for p in parts)


def _torch_inputs(spec: ExportSpec, arrays: dict[str, np.ndarray]):
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(arrays[t.name])) for t in spec.inputs)


def torch_reference(spec: ExportSpec, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of ``spec.module`` in eager torch on the CPU, keyed by output name."""
    import torch

    from .backends import _as_output_list

    module = spec.module.eval().cpu()
    with torch.inference_mode():
        ys = _as_output_list(module(*_torch_inputs(spec, arrays)), [t.name for t in spec.outputs])
    return {t.name: y.detach().cpu().numpy() for t, y in zip(spec.outputs, ys)}


def check_sizes(spec: ExportSpec) -> list[dict[str, int]]:
    """Sizes parity is checked at: every axis at ``opt``, then (if any axis is dynamic) a second size
    (``min(max, 2 * opt + 1)``, or ``min`` when ``opt == max``), which exercises the dynamic axes
    without paying for the largest size."""
    sizes = [spec.opt_dims()]
    if spec.dims:
        alt = {k: (min(v.max, 2 * v.opt + 1) if v.max != v.opt else v.min) for k, v in spec.dims.items()}
        if alt != sizes[0]:
            sizes.append(alt)
    return sizes


def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per output: max abs error, max abs reference value, and whether shapes agree."""
    out = {}
    for k, r in ref.items():
        g = got[k]
        if r.shape != g.shape:
            out[k] = {"shape_ref": list(r.shape), "shape_got": list(g.shape), "max_abs_err": float("inf"), "max_abs_ref": 0.0}
            continue
        err = float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64)))) if r.size else 0.0
        out[k] = {"max_abs_err": err, "max_abs_ref": float(np.max(np.abs(r))) if r.size else 0.0}
    return out


def within(errors: dict[str, dict], tolerance: tuple[float, float]) -> list[str]:
    """Names of outputs whose error exceeds ``atol + rtol * max|ref|``."""
    rtol, atol = tolerance
    return [k for k, e in errors.items() if not e["max_abs_err"] <= atol + rtol * e["max_abs_ref"]]


def check_parity(spec: ExportSpec, run, tolerance: tuple[float, float], what: str) -> dict[str, dict]:
    """Compare ``run(arrays) -> {output name: array}`` with eager torch at every ``check_sizes(spec)``
    size; errors per size (JSON-keyed dims). Raises ``ExportParityError`` naming ``what`` beyond
    ``tolerance`` (rtol, atol)."""
    parity: dict[str, dict] = {}
    for dims in check_sizes(spec):
        arrays = spec.make_inputs(dims, seed=1)
        errs = compare(torch_reference(spec, arrays), run(arrays))
        parity[json.dumps(dims, sort_keys=True)] = errs
        bad = within(errs, tolerance)
        if bad:
            raise ExportParityError(
                f"{spec.name}: {what} differs from torch beyond tolerance rtol={tolerance[0]}, atol={tolerance[1]} "
                f"at sizes {dims}: " + ", ".join(f"{k}: {errs[k]}" for k in bad))
    return parity


def export_onnx(
    spec: ExportSpec,
    out_dir: str | Path,
    opset: int | None = None,
    check: bool = True,
    exporter: str = "torchscript",
    path: str | Path | None = None,
) -> Path:
    """Write ``<out_dir>/<name>.onnx`` and its manifest; return the path."""
    import onnx
    import torch

    opset = int(opset or spec.opset or MIN_OPSET)
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} < {MIN_OPSET}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = Path(path) if path else artifact_path(out_dir, spec.name, "onnx")
    module = spec.module.eval().cpu()
    example = spec.make_inputs(seed=0)
    args = _torch_inputs(spec, example)
    input_names = [t.name for t in spec.inputs]
    output_names = [t.name for t in spec.outputs]
    dynamic_axes = {t.name: t.dynamic_axes for t in spec.inputs + spec.outputs if t.dynamic_axes}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer / deprecation chatter
        if exporter == "dynamo":
            dyn_shapes = {t.name: {i: torch.export.Dim(d) for i, d in t.dynamic_axes.items()} or None
                          for t in spec.inputs}
            prog = torch.onnx.export(module, args, dynamo=True, input_names=input_names,
                                     output_names=output_names, dynamic_shapes=dyn_shapes, opset_version=opset)
            prog.save(str(path))
        elif exporter == "torchscript":
            torch.onnx.export(module, args, buf, input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes or None, opset_version=opset, do_constant_folding=True,
                              dynamo=False)
        else:
            raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    if exporter == "torchscript":
        model = onnx.load_from_string(buf.getvalue())
        model.producer_name = "hand_models.inference.export"
        model.doc_string = f"{spec.name} {spec.version} config {spec.config_hash}"
        onnx.save(model, str(path))
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    got_in = [i.name for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}]
    got_out = [o.name for o in model.graph.output]
    if got_in != input_names or got_out != output_names:
        raise RuntimeError(f"{path}: exported graph has inputs {got_in} / outputs {got_out}, expected {input_names} / {output_names}")

    parity: dict = {}
    if check:
        from .backends import OnnxRuntimeBackend

        _write_manifest(spec, path, "onnx", opset=opset, parity={}, out_dir=out_dir)
        ort_backend = OnnxRuntimeBackend(path, "onnxruntime")
        parity = check_parity(spec, ort_backend, spec.tolerance, "ONNX Runtime")
        ort_backend.close()
    _write_manifest(spec, path, "onnx", opset=opset, parity={"onnxruntime_cpu_vs_torch": parity}, out_dir=out_dir)
    return path


def fp16_tolerance(spec: ExportSpec) -> tuple[float, float]:
    """fp16 keeps ~3 significant digits: 1e-2 relative to the output's range, plus the fp32 tolerance."""
    return (1e-2 + spec.tolerance[0], 1e-2 + spec.tolerance[1])


def export_mixed_fp16(spec: ExportSpec, onnx_path: str | Path, check: bool = True) -> tuple[Path, dict]:
    """Write ``<name>.fp16.onnx`` beside ``onnx_path`` (fp16 inside, fp32 I/O) and, with ``check``,
    compare it with torch on ONNX Runtime (CPU) at ``check_sizes``; return (path, errors per size).

    Raises ``ExportParityError`` beyond ``fp16_tolerance(spec)``.
    """
    from .precision import fp16_onnx_path, to_mixed_fp16

    dst = to_mixed_fp16(onnx_path, fp16_onnx_path(onnx_path))
    parity: dict = {}
    if check:
        import onnxruntime as ort

        # a plain session: the fp16 graph has no manifest of its own (it is an input to the engine build)
        sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
        names = [t.name for t in spec.outputs]

        def run(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return dict(zip(names, sess.run(names, {t.name: arrays[t.name] for t in spec.inputs})))

        parity = check_parity(spec, run, fp16_tolerance(spec), "mixed-fp16 ONNX")
    return dst, parity


def export_tensorrt(
    spec: ExportSpec,
    onnx_path: str | Path,
    out_dir: str | Path,
    precision: str = "fp16",
    timing_cache: str | Path | None = None,
    check: bool = True,
    tolerance: tuple[float, float] | None = None,
    typing: str = "auto",
) -> Path:
    """Build ``<out_dir>/<name>.<precision>.engine`` from ``onnx_path`` and write its manifest.

    With strong typing (``typing='auto'`` on TensorRT 11+, or ``'strong'``) an fp16 engine is built
    from ``<name>.fp16.onnx``, written beside ``onnx_path`` by ``to_mixed_fp16`` and checked against
    torch on ONNX Runtime (CPU) first, so a conversion problem is reported before the build.
    """
    from .tensorrt_backend import TensorRTBackend, _import_trt, build_engine, choose_typing

    out_dir = Path(out_dir)
    path = artifact_path(out_dir, spec.name, "tensorrt", precision)
    timing_cache = Path(timing_cache) if timing_cache else out_dir / "tensorrt.timing.cache"
    typing = choose_typing(_import_trt().__version__, typing)
    source = Path(onnx_path)
    fp16_parity: dict = {}
    if typing == "strong" and precision == "fp16":
        source, fp16_parity = export_mixed_fp16(spec, onnx_path, check=check)
    builder = build_engine(source, path, spec.inputs, spec.dims, fp16=precision == "fp16", timing_cache=timing_cache,
                           typing=typing)
    builder["onnx_sha256"] = sha256_file(source)
    if fp16_parity:
        builder["mixed_fp16_onnx_parity"] = fp16_parity
    _write_manifest(spec, path, "tensorrt", precision=precision, builder=builder, parity={}, out_dir=out_dir)
    if check:
        tol = tolerance or (fp16_tolerance(spec) if precision == "fp16" else spec.tolerance)
        engine = TensorRTBackend(path, "tensorrt" + ("+fp32" if precision == "fp32" else ""))
        parity = check_parity(spec, engine, tol, f"TensorRT {precision}")
        engine.close()
        _write_manifest(spec, path, "tensorrt", precision=precision, builder=builder,
                        parity={f"tensorrt_{precision}_vs_torch_cpu": parity, "tolerance": list(tol)}, out_dir=out_dir)
    return path


def _write_manifest(spec: ExportSpec, path: Path, kind: str, out_dir: Path, opset: int | None = None,
                    precision: str = "fp32", builder: dict | None = None, parity: dict | None = None) -> Manifest:
    m = Manifest(
        model=spec.name, version=str(spec.version), config_hash=spec.config_hash, kind=kind, file=path.name,
        sha256=sha256_file(path), inputs=specs_to_dicts(spec.inputs), outputs=specs_to_dicts(spec.outputs),
        dims=dims_to_dict(spec.dims), config=spec.config, precision=precision, opset=opset,
        source=spec.source, software=software_versions(), builder=builder, parity=parity or {},
        rebuild_command=rebuild_command(spec.name, kind, out_dir, spec.config, precision if kind == "tensorrt" else None),
    )
    m.write(path)
    return m


def export_model(
    name: str | ExportSpec,
    out_dir: str | Path | None = None,
    formats: Sequence[str] = ("onnx",),
    config: dict | None = None,
    precision: str = "fp16",
    opset: int | None = None,
    check: bool = True,
    exporter: str = "torchscript",
    typing: str = "auto",
) -> dict[str, Path]:
    """Export a registered model (or a ready ``ExportSpec``) in ``formats`` ('onnx', 'tensorrt')."""
    spec = name if isinstance(name, ExportSpec) else get_export_spec(name, config)
    out_dir = Path(out_dir) if out_dir else default_artifact_dir()
    paths: dict[str, Path] = {}
    onnx_path = export_onnx(spec, out_dir, opset=opset, check=check, exporter=exporter)
    paths["onnx"] = onnx_path
    if "tensorrt" in formats:
        paths["tensorrt"] = export_tensorrt(spec, onnx_path, out_dir, precision=precision, check=check, typing=typing)
    return paths


def _parse_config(items: Sequence[str]) -> dict:
    cfg = {}
    for it in items or ():
        k, sep, v = it.partition("=")
        if not sep:
            raise SystemExit(f"--config expects key=value, got {it!r}")
        try:
            cfg[k] = json.loads(v)
        except json.JSONDecodeError:
            cfg[k] = v
    return cfg


def export_main(argv: Sequence[str] | None = None) -> int:
    """``hand-perception export``: export registered models; prints one JSON line per artefact."""
    p = argparse.ArgumentParser(prog="hand-perception export", description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", help="registered model names ('--list' shows them); 'all' for every one")
    p.add_argument("--list", action="store_true", help="list the registered, importable models and exit")
    p.add_argument("--out", default=None, help=f"output folder (default {default_artifact_dir()})")
    p.add_argument("--format", default="onnx", choices=("onnx", "tensorrt", "all"),
                   help="tensorrt implies onnx; 'all' builds engines only where TensorRT and a GPU exist")
    p.add_argument("--precision", default="fp16", choices=("fp16", "fp32"), help="TensorRT engine precision")
    p.add_argument("--typing", default="auto", choices=("auto", "strong", "weak"),
                   help="TensorRT network typing: auto = weak (BuilderFlag.FP16) on TensorRT 10, strong (graph "
                        "converted to mixed fp16 first) on 11+, where weak typing no longer exists")
    p.add_argument("--opset", type=int, default=None, help=f"ONNX opset (>= {MIN_OPSET}; default: the model's)")
    p.add_argument("--exporter", default="torchscript", choices=("torchscript", "dynamo"))
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="model configuration (JSON values)")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime / TensorRT parity check against torch")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    models = list_models()
    if a.list:
        for n, d in models.items():
            print(f"{n:24s} {d}")
        return 0
    if not a.models:
        p.error("name at least one model (or --list)")
    names = list(models) if a.models == ["all"] else a.models
    unknown = [n for n in names if n not in models]
    if unknown:
        print(f"unknown or unavailable model(s) {unknown}; available: {sorted(models)}", file=sys.stderr)
        return 2
    formats = ["onnx"]
    if a.format in ("tensorrt", "all"):
        from .tensorrt_backend import tensorrt_available

        ok, why = tensorrt_available()
        if ok:
            formats.append("tensorrt")
        elif a.format == "tensorrt":
            print(f"cannot build TensorRT engines here: {why}", file=sys.stderr)
            return 3
        else:
            print(f"note: TensorRT engines skipped ({why})", file=sys.stderr)
    cfg = _parse_config(a.config)
    rc = 0
    for n in names:
        try:
            paths = export_model(n, a.out, formats, cfg, a.precision, a.opset, not a.no_check, a.exporter, a.typing)
        except (ExportParityError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            rc = 1
            continue
        for kind, path in paths.items():
            print(json.dumps({"model": n, "format": kind, "path": str(path), "sha256": sha256_file(path)}))
    return rc


if __name__ == "__main__":
    sys.exit(export_main())
