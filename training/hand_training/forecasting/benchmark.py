"""The F-PHAB test-half benchmark behind ``benchmarks/eval_forecasting.py --data DIR``.

:func:`run` reads every official test-half sequence under ``DIR`` (see
:mod:`hand_training.forecasting.fpha_split`), evaluates zero velocity, constant velocity, the
pipeline's no-weights default and every given checkpoint on the same windows
(:mod:`hand_training.forecasting.fpha_eval`), optionally the action recogniser (engineer F's
:func:`hand_training.actions.evaluate.evaluate_recognizer`) and UniHand, and returns one dict.
Problems with one input (a missing checkpoint, a checkpoint of the wrong kind / joint layout /
taxonomy) become lines in ``errors`` and the rest still runs; no FPHA test-half sequence at all
sets ``fatal``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import fpha_eval as FE
from .core_baseline import core_default
from .fpha_split import load_half

JOINT_LAYOUT = "canonical21"
#: the method the pipeline uses without weights (core damped constant velocity)
DEFAULT_METHOD = "default"


class CheckpointMismatch(ValueError):
    """A checkpoint made for another model kind, joint layout or taxonomy."""


def check_checkpoint(path: str | Path, want_kind: str) -> dict:
    """Load ``path`` (weights_only) and check it is a ``want_kind`` checkpoint for 21 canonical
    joints; returns the state dict or raises FileNotFoundError / CheckpointMismatch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{want_kind} checkpoint {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one error line
        raise CheckpointMismatch(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointMismatch(f"{path} is not a hand_training forecaster checkpoint (no 'model'/'config')")
    kind = str(state.get("kind", "ghtt"))
    if kind != want_kind:
        raise CheckpointMismatch(f"{path} is a {kind!r} checkpoint, not {want_kind!r}")
    layout = str(state.get("joint_layout", JOINT_LAYOUT))
    if layout != JOINT_LAYOUT:
        raise CheckpointMismatch(f"{path} was trained for joint layout {layout!r}, this benchmark needs {JOINT_LAYOUT!r}")
    from hand_models.networks.ghtt.representation import FEATURE_DIM

    w = state["model"].get("pose.normalizer.mean", state["model"].get("normalizer.mean"))
    if w is not None and w.shape[-1] != FEATURE_DIM:
        raise CheckpointMismatch(f"{path} has {w.shape[-1]} features per frame, the 21-joint bimanual layout has {FEATURE_DIM}")
    return state


def _fill_observation(obs: np.ndarray) -> np.ndarray:
    """Missing joints take the value of their next observed frame (backwards fill towards the
    anchor frame), then of their last observed one (joints missing at the anchor); a joint never
    observed in the window stays NaN."""
    out = obs.copy()
    for i in range(len(out) - 2, -1, -1):
        bad = ~np.isfinite(out[i]).all(-1) & np.isfinite(out[i + 1]).all(-1)
        out[i][bad] = out[i + 1][bad]
    for i in range(1, len(out)):
        bad = ~np.isfinite(out[i]).all(-1) & np.isfinite(out[i - 1]).all(-1)
        out[i][bad] = out[i - 1][bad]
    return out


def _safe(fn):
    def call(obs):
        return fn(_fill_observation(obs))
    return call


def load_models(ghtt: str | None, diffusion: str | None, samples: int, errors: list[str]) -> dict:
    from hand_models.networks.ghtt.predict import DiffusionPredictor, GHTTPredictor, load_diffusion, load_ghtt

    methods: dict = {}
    gen = torch.Generator().manual_seed(0)
    if ghtt:
        try:
            check_checkpoint(ghtt, "ghtt")
            model = load_ghtt(ghtt)
            pred = GHTTPredictor(model)
            methods["ghtt_pa"] = lambda o, p=pred: p.forecast(o, FE.FUT, samples, path="pa", generator=gen)
            if model.labels:
                methods["ghtt_pb"] = lambda o, p=pred: p.forecast(o, FE.FUT, samples, path="pb", generator=gen)
        except (FileNotFoundError, CheckpointMismatch, RuntimeError, KeyError) as exc:
            errors.append(f"--ghtt: {exc}")
    if diffusion:
        try:
            check_checkpoint(diffusion, "diffusion")
            pred = DiffusionPredictor(load_diffusion(diffusion))
            methods["diffusion"] = lambda o, p=pred: p.forecast(o, FE.FUT, samples, generator=gen)
        except (FileNotFoundError, CheckpointMismatch, RuntimeError, KeyError) as exc:
            errors.append(f"--diffusion: {exc}")
    return methods


def eval_recognizer(path: str, seqs: list, errors: list[str]) -> dict:
    try:
        from hand_training.actions.evaluate import evaluate_recognizer
    except ImportError as exc:
        errors.append(f"--recognizer: evaluate_recognizer unavailable ({exc})")
        return {}
    try:
        r = evaluate_recognizer(path, seqs)
    except Exception as exc:  # noqa: BLE001 - CheckpointMismatch, missing file, wrong kind: one line
        errors.append(f"--recognizer: {type(exc).__name__}: {exc}")
        return {}
    if r.get("taxonomy") != "fpha":
        errors.append(f"--recognizer: {path} is for taxonomy {r.get('taxonomy')!r}, not 'fpha' (45 F-PHAB actions)")
        return {}
    return {k: r[k] for k in ("fpha_1to1_top1", "fpha_1to1_sequences", "online_top1", "skipped") if k in r}


def eval_unihand(path: str, seqs: list, data_dir: Path, errors: list[str], quick: bool) -> dict:
    """UniHand vs One-Euro on the test half (projected with the FPHA depth intrinsics, the noise of
    benchmarks/eval_unihand.py)."""
    import sys

    bench = Path(__file__).resolve().parents[3] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import eval_unihand as EU
        from hand_models.fitting import ManoFitter
        from hand_models.networks.unihand.inference import UniHandPredictor, load_checkpoint
        from hand_training.data.synthetic import ObservationNoise

        if not Path(path).is_file():
            raise FileNotFoundError(f"unihand checkpoint {path} not found")
        model = load_checkpoint(path)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"--unihand: {type(exc).__name__}: {exc}")
        return {}
    K = np.array([[475.065948, 0.0, 315.944855], [0.0, 475.065857, 245.287079], [0.0, 0.0, 1.0]])  # FPHA depth camera
    items = []
    for s in seqs[: 8 if quick else None]:
        j = s.joints[:, 1]
        j = j[np.isfinite(j).all((1, 2))]
        if len(j) >= 8:
            items.append(("right", K, (640, 480), j))
    pred = UniHandPredictor(model)
    fitter = {side: ManoFitter(side) for side in ("left", "right")}
    return EU.evaluate(items, pred, fitter, ObservationNoise(), 2025, 30.0)


def run(data_dir: str | Path, ghtt: str | None = None, diffusion: str | None = None, recognizer: str | None = None,
        unihand: str | None = None, samples: int = 20, stride_s: float = 0.25, quick: bool = False,
        out_dir: str | Path | None = None, progress: bool = False) -> dict:
    data_dir = Path(data_dir)
    errors: list[str] = []
    notes: list[str] = []
    res: dict = {"benchmark": "eval_forecasting", "data": str(data_dir), "samples": samples, "stride_s": stride_s,
                 "protocol": "official F-PHAB 1:1 test half; observe 0.5 s (16 frames at 30 fps), forecast 1 s; mm",
                 "fpha_1to1_top1": None, "fpha_1to1_sequences": 0, "default_method": DEFAULT_METHOD}
    try:
        half = load_half(data_dir, "test")
    except (OSError, ValueError) as exc:
        half = None
        errors.append(f"--data: {exc}")
    seqs = half.sequences if half else []
    if half is not None:
        if half.missing:
            notes.append(f"the split file names {len(half.missing)} test-half sequences not found under {data_dir} "
                         f"(e.g. {half.missing[0]}); evaluating the {len(seqs)} found")
        if half.unknown:
            notes.append(f"{len(half.unknown)} sequences of unknown half skipped (e.g. {half.unknown[0]})")
        for k, why in half.unreadable.items():
            errors.append(f"{k}: unreadable ({why})")
        if half.other_half:
            notes.append(f"{half.other_half} training-half sequences ignored")
    if quick:
        seqs = seqs[:: max(1, len(seqs) // 8)][:8]
    need = (FE.OBS + 1 + FE.FUT) / FE.FPS
    short = [s.name for s in seqs if s.duration_s < need]
    if short:
        notes.append(f"{len(short)} sequences shorter than the {need:.2f} s window skipped (e.g. {short[0]})")
    res["fpha_test"] = {"sequences_found": len(seqs) + (0 if not quick else 0), "sequences_evaluated": 0, "windows": 0,
                        "missing_in_split_file": len(half.missing) if half else 0, "short_skipped": len(short),
                        "split_source": half.split_source if half else ""}
    if not seqs:
        errors.append(f"no official F-PHAB test-half sequence found under {data_dir} "
                      "(expected motion/orig/fpha/Subject_k/action/rep/skeleton.txt with the split file, or motion/uniform/fpha__*.npz)")
        res.update(errors=errors, notes=notes, methods={}, fatal=True)
        return res
    wins = list(FE.windows(seqs, stride_s))
    res["fpha_test"]["windows"] = len(wins)
    res["fpha_test"]["sequences_evaluated"] = len({w.name.split("@")[0] for w in wins})
    methods = {"zero_velocity": FE.zero_velocity, "constant_velocity": FE.constant_velocity, DEFAULT_METHOD: core_default}
    methods.update(load_models(ghtt, diffusion, samples, errors))
    table = FE.evaluate(wins, {k: _safe(f) for k, f in methods.items()}, progress=progress)
    res["methods"] = table
    zv = table.get("zero_velocity", {}).get("ade_mean@1.0s")
    if zv:
        for name, r in table.items():
            if r.get("windows"):
                r["ade_mean@1.0s_vs_zero_velocity"] = r["ade_mean@1.0s"] / zv
        ok = {n: r for n, r in table.items() if r.get("windows") and r.get("fde_mean@1.0s", np.inf) <= table["zero_velocity"]["fde_mean@1.0s"] + 1e-9}
        res["best_by_ade_mean@1.0s_with_fde_not_worse"] = min(ok, key=lambda n: ok[n]["ade_mean@1.0s"]) if ok else "zero_velocity"
    if recognizer:
        r = eval_recognizer(recognizer, seqs, errors)
        res.update({k: v for k, v in r.items() if k in ("fpha_1to1_top1", "fpha_1to1_sequences")})
        res["recognizer"] = r
    if unihand:
        res["unihand"] = eval_unihand(unihand, seqs, data_dir, errors, quick)
    res["errors"], res["notes"] = errors, notes
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(res, indent=1, default=str))
        FE.plot_report(table, str(out / "report.png"), "F-PHAB test half")
    return res
