"""Backend selection: one string (pipeline YAML / node parameter) -> ``BackendConfig``.

Grammar: ``KIND[:DEVICE][+FLAG...]``, case-insensitive, e.g.

=================================  ===========================================================
``torch``                          torch eager on CPU
``torch:cuda``                     torch eager on the GPU
``torch:cuda+compile``             ``torch.compile`` (default mode)
``torch:cuda+cudagraphs``          eager kernels replayed from captured CUDA graphs (per input shape)
``torch:cuda+compile+cudagraphs``  ``torch.compile(mode="reduce-overhead")`` (Inductor + CUDA graphs)
``torch:cuda+fp16``                half-precision weights and inputs (outputs cast back to the spec dtype)
``onnxruntime`` / ``ort``          ONNX Runtime, CPU execution provider
``onnxruntime:cuda``               ONNX Runtime, CUDA execution provider (CPU fallback for unsupported nodes)
``tensorrt`` / ``trt``             TensorRT engine (GPU only; ``+fp16`` is the default precision, ``+fp32`` forces fp32)
``tflite``                         the original .tflite through LiteRT (MediaPipe networks only; reference)
=================================  ===========================================================

Extra ``key=value`` flags set options: ``threads=2`` (CPU threads), ``rebuild`` (re-export an
artefact whose manifest does not match instead of refusing it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = {"torch": "torch", "pytorch": "torch", "onnxruntime": "onnxruntime", "ort": "onnxruntime", "onnx": "onnxruntime",
         "tensorrt": "tensorrt", "trt": "tensorrt", "tflite": "tflite", "litert": "tflite"}
DEVICES = ("cpu", "cuda")
FLAGS = ("compile", "cudagraphs", "fp16", "fp32", "rebuild")


@dataclass(frozen=True)
class BackendConfig:
    kind: str = "torch"
    device: str = "cpu"
    compile: bool = False
    cuda_graphs: bool = False
    precision: str = "fp32"  # "fp32" or "fp16"
    threads: int | None = None
    rebuild: bool = False
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in set(KINDS.values()):
            raise ValueError(f"unknown backend kind {self.kind!r}; one of {sorted(set(KINDS.values()))}")
        if self.device.split(":")[0] not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; one of {DEVICES} (cuda:N allowed)")
        if self.kind == "tensorrt" and not self.device.startswith("cuda"):
            object.__setattr__(self, "device", "cuda")
        if self.kind == "tflite" and self.device != "cpu":
            raise ValueError("the tflite backend runs on the CPU only")
        if self.cuda_graphs and not self.device.startswith("cuda"):
            raise ValueError("CUDA graphs need a CUDA device: use 'torch:cuda+cudagraphs'")
        if self.kind != "torch" and (self.compile or self.cuda_graphs):
            raise ValueError("+compile / +cudagraphs are torch options")
        if self.precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, got {self.precision!r}")

    @classmethod
    def parse(cls, text: "str | BackendConfig | dict") -> "BackendConfig":
        if isinstance(text, BackendConfig):
            return text
        if isinstance(text, dict):
            return cls(**text)
        s = str(text).strip().lower()
        if not s:
            raise ValueError("empty backend string")
        head, *flags = s.split("+")
        kind, _, device = head.partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown backend {kind!r} in {text!r}; one of {sorted(KINDS)}")
        kind = KINDS[kind]
        kw: dict = {"kind": kind, "device": device or ("cuda" if kind == "tensorrt" else "cpu")}
        if kind == "tensorrt":
            kw["precision"] = "fp16"
        options = {}
        for f in flags:
            if "=" in f:
                k, v = f.split("=", 1)
                if k == "threads":
                    kw["threads"] = int(v)
                else:
                    options[k] = v
            elif f == "compile":
                kw["compile"] = True
            elif f in ("cudagraphs", "cudagraph", "cuda_graphs"):
                kw["cuda_graphs"] = True
            elif f in ("fp16", "half"):
                kw["precision"] = "fp16"
            elif f == "fp32":
                kw["precision"] = "fp32"
            elif f == "rebuild":
                kw["rebuild"] = True
            else:
                raise ValueError(f"unknown backend flag {f!r} in {text!r}; flags: {FLAGS} or key=value")
        kw["options"] = options
        return cls(**kw)

    def __str__(self) -> str:
        s = self.kind
        if self.device != ("cuda" if self.kind == "tensorrt" else "cpu"):
            s += f":{self.device}"
        for flag, on in (("compile", self.compile), ("cudagraphs", self.cuda_graphs), ("rebuild", self.rebuild)):
            if on:
                s += f"+{flag}"
        default_precision = "fp16" if self.kind == "tensorrt" else "fp32"
        if self.precision != default_precision:
            s += f"+{self.precision}"
        if self.threads:
            s += f"+threads={self.threads}"
        for k, v in sorted(self.options.items()):
            s += f"+{k}={v}"
        return s

    @classmethod
    def from_parts(cls, backend: str, device: str | None = None) -> "BackendConfig":
        """Combine a backend string and a separate device parameter (as the nodes/pipeline YAML give
        them): ``("onnxruntime", "cuda")`` -> ``onnxruntime:cuda``; a device inside ``backend`` wins."""
        head, plus, rest = str(backend).partition("+")
        if device and ":" not in head and str(device).lower() not in ("", "auto"):
            head = f"{head}:{str(device).lower()}"
        return cls.parse(head + plus + rest)

    @property
    def artifact_kind(self) -> str | None:
        """Which exported artefact this backend loads: 'onnx', 'tensorrt', or None (runs the module)."""
        return {"onnxruntime": "onnx", "tensorrt": "tensorrt"}.get(self.kind)
