"""Registry of exportable models: name -> factory ``(config: dict) -> ExportSpec``.

A model plugs into export, the backends and the benchmark with one registration, either eagerly::

    from hand_models.inference import register_model, ExportSpec, TensorSpec, DynamicDim

    @register_model("my_model", description="...")
    def my_model_spec(config: dict) -> ExportSpec:
        return ExportSpec(name="my_model", version="1", module=build(config), inputs=[...], outputs=[...],
                          dims={"batch": DynamicDim(1, 1, 8)}, config=config)

or lazily by import path (nothing is imported until the model is used), which is how the built-in
entries below are declared; a third-party package can also declare an entry point in the group
``hand_models.export`` whose value is ``"package.module:factory"``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Callable

from .specs import ExportSpec

Factory = Callable[[dict], ExportSpec]


@dataclass
class _Entry:
    name: str
    target: "Factory | str"
    description: str = ""

    def module_name(self) -> str | None:
        return self.target.split(":")[0] if isinstance(self.target, str) else None

    def available(self) -> bool:
        """Whether the factory can be imported (a lazy entry whose module or function does not exist
        yet, or fails to import, is listed as unavailable rather than breaking the registry)."""
        mod = self.module_name()
        if mod is None:
            return True
        try:
            if importlib.util.find_spec(mod) is None:
                return False
            self.factory()
            return True
        except Exception:  # noqa: BLE001 - half-written or broken model code
            return False

    def factory(self) -> Factory:
        if callable(self.target):
            return self.target
        mod, _, attr = self.target.partition(":")
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"model {self.name!r} is registered as {self.target!r}, which cannot be imported: {exc}") from exc
        self.target = fn
        return fn


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, factory: Factory | str | None = None, description: str = "", replace: bool = False):
    """Register ``factory`` (a callable or a ``"module:function"`` string) under ``name``.

    Usable directly or as a decorator. Re-registering a name needs ``replace=True``.
    """

    def _do(f):
        if name in _REGISTRY and not replace and _REGISTRY[name].target is not f:
            raise KeyError(f"model {name!r} is already registered ({_REGISTRY[name].target}); pass replace=True")
        _REGISTRY[name] = _Entry(name, f, description)
        return f

    if factory is None:
        return _do
    return _do(factory)


def unregister_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="hand_models.export"):
            if ep.name not in _REGISTRY:
                _REGISTRY[ep.name] = _Entry(ep.name, ep.value, f"entry point {ep.value}")
    except Exception:  # noqa: BLE001 - a broken third-party entry point must not break the registry
        pass


def list_models(available_only: bool = True) -> dict[str, str]:
    """Registered model names -> description (by default only those whose code is importable)."""
    _load_entry_points()
    return {n: e.description for n, e in sorted(_REGISTRY.items()) if not available_only or e.available()}


def get_export_spec(name: str, config: dict | None = None) -> ExportSpec:
    """Build the ``ExportSpec`` of a registered model with ``config`` (model-specific options)."""
    _load_entry_points()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(_REGISTRY)}")
    spec = _REGISTRY[name].factory()(dict(config or {}))
    if not isinstance(spec, ExportSpec):
        raise TypeError(f"factory of {name!r} returned {type(spec).__name__}, not ExportSpec")
    return spec


# Built-in models (lazy: nothing is imported until used).
register_model("mediapipe_palm", "hand_models.inference.mediapipe_port.models:palm_export_spec",
               "MediaPipe palm detector (full), ported from the .tflite in the mediapipe wheel")
register_model("mediapipe_landmark", "hand_models.inference.mediapipe_port.models:landmark_export_spec",
               "MediaPipe hand landmark model (full), ported from the .tflite in the mediapipe wheel")
# Learned stages in hand_models.networks plug in by providing `export_spec(config) -> ExportSpec` in
# their `export` module (one ExportSpec per exported graph: register extra names such as
# "ghtt_pose_encoder" the same way for multi-graph models); they show up in `list_models()` and in
# `hand-perception export` / `bench` as soon as that function exists.
register_model("unihand_denoiser", "hand_models.networks.unihand.export:denoiser_spec",
               "UniHand latent denoiser (one DDIM evaluation; keypoint conditions)")
register_model("unihand_decoder", "hand_models.networks.unihand.export:decoder_spec",
               "UniHand joint-VAE decoder (latent -> MANO sequence)")
register_model("ghtt", "hand_models.networks.ghtt.export:export_spec",
               "G-HTT bimanual forecaster and action model")
register_model("ghtt_pose_encoder", "hand_models.inference.adapters.ghtt:pose_encoder_spec",
               "G-HTT pose block encoder (one clip -> latent, skip features, refined clip)")
register_model("ghtt_pose_decoder", "hand_models.inference.adapters.ghtt:pose_decoder_spec",
               "G-HTT pose block decoder (latent + skip features -> next clip)")
