"""Manifests: the JSON file written next to every exported artefact (``X.onnx`` -> ``X.onnx.manifest.json``,
``X.engine`` -> ``X.engine.manifest.json``) and checked before the artefact is loaded.

A manifest records what was exported (model name, version, config hash, input/output names, shapes
and dtypes, dynamic axis ranges), the artefact's sha256, the exporter's versions and, for TensorRT
engines, the builder and CUDA versions and the GPU it was built on (an engine only runs on the same
TensorRT version and GPU model). ``check_manifest`` refuses any mismatch with a ``ManifestError``
whose message ends with the command that rebuilds the artefact.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "hand_perception.inference.manifest/1"


class ManifestError(RuntimeError):
    """An artefact is missing its manifest, or does not match it / what the caller expects."""


def manifest_path(artifact: str | Path) -> Path:
    p = Path(artifact)
    return p.with_name(p.name + ".manifest.json")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of the exporting software (missing packages are left out)."""
    out = {"python": platform.python_version()}
    for mod in ("torch", "onnx", "onnxruntime", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional packages
            pass
    try:
        from importlib.metadata import version

        out["hand_models"] = version("hand_models")
    except Exception:  # noqa: BLE001 - not installed as a distribution (source checkout)
        pass
    return out


@dataclass
class Manifest:
    model: str
    version: str
    config_hash: str
    kind: str  # "onnx" or "tensorrt"
    file: str  # artefact file name (relative to the manifest)
    sha256: str
    inputs: list[dict]
    outputs: list[dict]
    dims: dict[str, list[int]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    precision: str = "fp32"
    opset: int | None = None
    source: dict = field(default_factory=dict)
    software: dict = field(default_factory=dict)
    builder: dict | None = None  # tensorrt: {"tensorrt", "cuda", "gpu", "compute_capability", ...}
    parity: dict = field(default_factory=dict)  # measured max errors against torch at export time
    rebuild_command: str = ""
    created_utc: str = ""
    format: str = FORMAT

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def write(self, artifact: str | Path) -> Path:
        if not self.created_utc:
            self.created_utc = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        p = manifest_path(artifact)
        p.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        return p


def read_manifest(artifact: str | Path) -> Manifest:
    p = manifest_path(artifact)
    if not p.is_file():
        raise ManifestError(
            f"{artifact}: no manifest ({p.name}) next to it, so it cannot be checked; re-export it with "
            f"'hand-perception export <model> --out {Path(artifact).parent}' (see 'hand-perception export --list')"
        )
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{p}: not valid JSON ({exc}); re-export the artefact") from None
    if d.get("format") != FORMAT:
        raise ManifestError(f"{p}: unknown manifest format {d.get('format')!r} (expected {FORMAT}); re-export the artefact")
    return Manifest.from_dict(d)


def _rebuild_hint(m: Manifest | None, artifact: str | Path, kind: str | None = None) -> str:
    if m is not None and m.rebuild_command:
        return f"rebuild it with: {m.rebuild_command}"
    fmt = kind or (m.kind if m else "onnx")
    name = m.model if m else "<model>"
    return f"rebuild it with: hand-perception export {name} --format {fmt} --out {Path(artifact).parent}"


def check_manifest(
    artifact: str | Path,
    expected: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    verify_sha256: bool = True,
) -> Manifest:
    """Read and check the manifest of ``artifact``; return it, or raise ``ManifestError``.

    ``expected`` may hold ``model``, ``version``, ``config_hash``, ``kind``, ``precision``, ``inputs`` and
    ``outputs`` (lists of tensor dicts) that the loader requires; ``runtime`` holds, for engines, the
    running ``tensorrt`` version and ``gpu`` name, which must equal the builder's.
    """
    artifact = Path(artifact)
    if not artifact.is_file():
        raise ManifestError(f"{artifact}: file not found; export it with 'hand-perception export <model> --out {artifact.parent}'")
    m = read_manifest(artifact)
    problems: list[str] = []
    if m.file != artifact.name:
        problems.append(f"manifest describes {m.file!r}, not {artifact.name!r}")
    if verify_sha256:
        got = sha256_file(artifact)
        if got != m.sha256:
            problems.append(f"sha256 {got[:12]}... differs from the manifest's {m.sha256[:12]}... (file changed or corrupt)")
    for key, want in (expected or {}).items():
        if want is None:
            continue
        have = getattr(m, key, None)
        if key in ("inputs", "outputs"):
            if _norm_specs(have) != _norm_specs(want):
                problems.append(f"{key} {_fmt_specs(have)} differ from the expected {_fmt_specs(want)}")
        elif have != want:
            problems.append(f"{key} is {have!r}, expected {want!r}")
    if m.kind == "tensorrt" and runtime:
        b = m.builder or {}
        for key in ("tensorrt", "gpu"):
            if runtime.get(key) is not None and b.get(key) != runtime.get(key):
                problems.append(
                    f"engine built with {key}={b.get(key)!r} but this machine has {key}={runtime.get(key)!r} "
                    "(TensorRT engines only run on the TensorRT version and GPU model that built them)"
                )
    if problems:
        raise ManifestError(f"{artifact} ({m.model} {m.version}, {m.kind}) is refused: " + "; ".join(problems)
                            + f". {_rebuild_hint(m, artifact)}")
    return m


def _norm_specs(specs) -> list:
    return [(s["name"], [d if isinstance(d, str) else int(d) for d in s["shape"]], s.get("dtype", "float32"))
            for s in (specs or [])]


def _fmt_specs(specs) -> str:
    return ", ".join(f"{n}{tuple(sh)}:{dt}" for n, sh, dt in _norm_specs(specs))
