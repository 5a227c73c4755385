"""One path from F-PHAB data to an engine: train a forecaster (G-HTT P.a / P.b or the diffusion
forecaster) on the official FPHA training half -> checkpoint -> evaluation report (JSON + plots)
on the validation subjects -> ONNX with manifests -> model card next to the checkpoint.

CLI (CPU: ``OMP_NUM_THREADS=1``; resumable: rerun the same command after an interruption)::

    python -m hand_training.forecasting.train_fpha --config training/configs/ghtt_fpha.yaml --out outputs/ghtt_fpha
    python -m hand_training.forecasting.train_fpha --config training/configs/diffusion_fpha.yaml --out outputs/diffusion_fpha

Outputs under ``--out``: the checkpoint (``ghtt.pt`` / ``diffusion_forecaster.pt``, with
``taxonomy``, ``joint_layout`` and ``training_data`` fields), ``report.json`` + ``report.png``
(validation subjects: the model next to zero velocity, constant velocity and the core default),
``onnx/`` (graphs + manifests; ``--no-export`` skips it) and ``MODEL_CARD.md``.
FPHA is research-only: the checkpoint must never be shipped or committed (``outputs/`` is ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from . import fpha_eval as FE
from .fpha_data import AugmentConfig, training_sequences

log = logging.getLogger(__name__)

JOINT_LAYOUT = "canonical21"
LICENCE = ("Trained on F-PHAB (Garcia-Hernando et al., CVPR 2018), academic non-commercial research licence: "
           "research and evaluation only; never ship, publish or commit these weights.")


def _data_root(conf: dict, override: str | None) -> str:
    root = override or conf.get("data", {}).get("root") or os.environ.get("HAND_PERCEPTION_SHARED_DATA") or "../shared/data"
    return str(root)


def build_data(conf: dict, root: str, max_sequences: int | None = None):
    d = conf.get("data", {})
    aug_d = d.get("augment")
    aug = AugmentConfig(**aug_d) if aug_d is not None else None
    return training_sequences(root, tuple(d.get("val_subjects", ["Subject_6"])), aug, seed=int(conf.get("train", {}).get("seed", 0)),
                              max_sequences=max_sequences)


def train_model(kind: str, conf: dict, train_seqs, out: Path, progress: bool = True):
    """Train and save; returns (model, checkpoint path, training summary). Under torchrun only
    rank 0 saves (other ranks get a None path)."""
    from .data import encode_sequences

    tr = conf.get("train", {})
    seed = int(tr.get("seed", 0))
    stride = int(tr.get("stride", 4))
    t0 = time.time()
    if kind == "ghtt":
        from hand_models.networks.ghtt.model import GHTT

        from .train_ghtt import config_from_dict, save_ghtt, train_action_block, train_pose_block

        cfg = config_from_dict(conf.get("model"))
        enc = encode_sequences(train_seqs, cfg.fps)
        model = GHTT(cfg)
        if tr.get("trainer") == "ddp":
            from .train_fpha_ddp import train_ddp

            rp = train_ddp("ghtt", model, enc, tr, out)
            if rp["rank"] != 0:
                return model, None, {"P": rp}
        else:
            rp = train_pose_block(model, enc, int(tr.get("epochs_p", 100)), out, tr.get("max_steps_p"), stride=stride,
                                  seed=seed, progress=progress)
        summary = {"P": {"steps": rp["steps"], "windows": rp["windows"], "last": rp["last"]}}
        if int(tr.get("max_steps_a", 0)) > 0:
            from hand_models.networks.ghtt.text_embeddings import taxonomy_embeddings

            from .train_ghtt import NO_OBJECT

            labels = sorted({s.label for s in train_seqs})
            label_text = taxonomy_embeddings("fpha", labels)
            noun_text = dict(zip([NO_OBJECT], taxonomy_embeddings("nouns_fpha", [NO_OBJECT])))
            # no object features in the forecast path: every clip gets the 'nothing' object
            for e in enc:
                e.noun = ""
            ra = train_action_block(model, enc, labels, label_text, noun_text, int(tr.get("epochs_a", 50)), out,
                                    int(tr["max_steps_a"]), seed=seed, progress=progress)
            model.default_object = torch.as_tensor(noun_text[NO_OBJECT])
            summary["A"] = {"steps": ra["steps"], "last": ra["last"]}
        path = out / "ghtt.pt"
        save_ghtt(path, model, {"taxonomy": "fpha" if model.labels else "", "joint_layout": JOINT_LAYOUT,
                                "training_data": "fpha_train_half", "licence": LICENCE})
    elif kind == "diffusion":
        from hand_models.networks.diffusion_forecaster import DiffusionForecaster

        from . import checkpoint as ckpt
        from .train_diffusion import config_from_dict, train_diffusion

        cfg = config_from_dict(conf.get("model"))
        enc = encode_sequences(train_seqs, cfg.fps)
        model = DiffusionForecaster(cfg)
        if tr.get("trainer") == "ddp":
            from .train_fpha_ddp import train_ddp

            r = train_ddp("diffusion", model, enc, tr, out)
            if r["rank"] != 0:
                return model, None, r
        else:
            r = train_diffusion(model, enc, int(tr.get("epochs", 100)), out, tr.get("max_steps"), stride=stride, seed=seed,
                                progress=progress)
        summary = {"steps": r["steps"], "windows": r["windows"], "last": r["last"]}
        path = out / "diffusion_forecaster.pt"
        ckpt.save(path, model=model.state_dict(), config=model.cfg.to_dict(), kind="diffusion", taxonomy="",
                  joint_layout=JOINT_LAYOUT, training_data="fpha_train_half", licence=LICENCE)
    else:
        raise ValueError(f"kind must be 'ghtt' or 'diffusion', got {kind!r}")
    summary["seconds"] = round(time.time() - t0, 1)
    model.eval()
    return model, path, summary


def load_trained(kind: str, out: Path):
    """(model, checkpoint path, summary) of a finished run under ``out`` (for --eval-only)."""
    from hand_models.networks.ghtt.predict import load_diffusion, load_ghtt

    path = out / ("ghtt.pt" if kind == "ghtt" else "diffusion_forecaster.pt")
    if not path.is_file():
        raise FileNotFoundError(f"no trained checkpoint {path} (train first)")
    model = load_ghtt(path) if kind == "ghtt" else load_diffusion(path)
    summary = dict(torch.load(path, map_location="cpu", weights_only=True).get("training", {}))
    for name in ("pose_block.pt", "action_block.pt", "diffusion.pt"):  # the trainers' resume files
        if (out / name).is_file():
            st = torch.load(out / name, map_location="cpu", weights_only=True)
            summary[name.removesuffix(".pt")] = {"epochs": st.get("epoch"), "steps": st.get("step")}
    summary.setdefault("seconds", float("nan"))
    return model, path, summary


def resave(kind: str, model, path: Path) -> None:
    """Write ``model`` (e.g. after calibration) back to ``path`` keeping the checkpoint's other fields."""
    from . import checkpoint as ckpt

    state = ckpt.load(path)
    state["model"] = model.state_dict()
    state["config"] = model.cfg.to_dict()
    ckpt.save(path, **state)


def model_methods(kind: str, model, samples: int, seed: int = 0) -> dict[str, FE.Method]:
    """Forecast callables of a trained model for :func:`fpha_eval.evaluate`."""
    from hand_models.networks.ghtt.predict import DiffusionPredictor, GHTTPredictor

    gen = torch.Generator().manual_seed(seed)
    if kind == "ghtt":
        pred = GHTTPredictor(model)
        out = {"ghtt_pa": lambda o: pred.forecast(o, FE.FUT, samples, path="pa", generator=gen)}
        if model.labels:
            out["ghtt_pb"] = lambda o: pred.forecast(o, FE.FUT, samples, path="pb", generator=gen)
        return out
    pred = DiffusionPredictor(model)
    return {"diffusion": lambda o: pred.forecast(o, FE.FUT, samples, generator=gen)}


def baseline_methods() -> dict[str, FE.Method]:
    from .core_baseline import core_default

    return {"zero_velocity": FE.zero_velocity, "constant_velocity": FE.constant_velocity, "core_default": core_default}


def evaluate_model(kind: str, model, seqs, conf: dict, progress: bool = True) -> dict:
    ev = conf.get("eval", {})
    wins = list(FE.windows(seqs, float(ev.get("stride_s", 0.25))))
    cap = int(ev.get("max_windows", 0))
    if cap and len(wins) > cap:
        wins = wins[:: int(np.ceil(len(wins) / cap))]
    methods = {**baseline_methods(), **model_methods(kind, model, int(ev.get("samples", 20)))}
    res = FE.evaluate(wins, methods, progress=progress)
    return {"windows": len(wins), "sequences": len(seqs), "methods": res}


def calibrate_spread(model, seqs, conf: dict, scales=(1.0, 5.0, 10.0, 20.0, 40.0)) -> dict:
    """G-HTT only: the sampling scale s of N(mu, s Sigma) chosen on the validation subjects so that
    the truth falls inside the samples' 5-95 % band as close to 90 % of the time as possible, among
    the scales whose mean-of-samples ADE@1s is within 2 % of the best. Sets ``model.cfg.sample_scale``;
    returns the per-scale table."""
    ev = conf.get("eval", {})
    wins = list(FE.windows(seqs, float(ev.get("stride_s", 0.25))))
    cap = int(ev.get("calibration_windows", 200))
    wins = wins[:: max(1, int(np.ceil(len(wins) / cap)))]
    from hand_models.networks.ghtt.predict import GHTTPredictor

    pred = GHTTPredictor(model)
    table = {}
    for s in scales:
        gen = torch.Generator().manual_seed(0)
        fn = lambda o, s=s: pred.forecast(o, FE.FUT, int(ev.get("samples", 20)), path="pa", sample_scale=s, generator=gen)  # noqa: E731
        r = FE.evaluate(wins, {"pa": fn})["pa"]
        table[str(s)] = {k: r[k] for k in ("ade_mean@1.0s", "ade_min@1.0s", "coverage_5_95")}
    best = min(v["ade_mean@1.0s"] for v in table.values())
    ok = [float(k) for k, v in table.items() if v["ade_mean@1.0s"] <= 1.02 * best]
    chosen = min(ok, key=lambda k: abs(table[str(k)]["coverage_5_95"] - 0.9))
    model.cfg.sample_scale = chosen
    return {"chosen": chosen, "windows": len(wins), "scales": table}


def export_onnx(kind: str, ckpt_path: Path, model, out: Path) -> dict:
    """ONNX graphs (+ manifests, parity against torch) of the trained model under ``out/onnx``."""
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    if kind == "ghtt":
        from hand_models.inference.export import export_model

        from . import checkpoint as ckpt

        # the pose graphs need only P's weights (the registry builds a GHTT without a taxonomy)
        pose_only = onnx_dir / "pose_block_weights.pt"
        ckpt.save(pose_only, model={k: v for k, v in model.state_dict().items() if k.startswith("pose.")},
                  config=model.cfg.to_dict(), kind="ghtt_pose", licence=LICENCE)
        res = {}
        conf = {"checkpoint": str(pose_only), "size": model.cfg.to_dict()}
        for name in ("ghtt_pose_encoder", "ghtt_pose_decoder"):
            r = export_model(name, out_dir=onnx_dir, formats=("onnx",), config=conf)
            res[name] = {k: str(v) for k, v in r.items()}
        return res
    from hand_models.inference.manifest import Manifest, sha256_file, software_versions
    from hand_models.networks.ghtt.export import check_diffusion_parity, export_diffusion

    paths = export_diffusion(model, onnx_dir)
    parity = check_diffusion_parity(model, paths)
    for name, p in paths.items():
        Manifest(model=f"diffusion_forecaster_{name}", version="fpha", config_hash=sha256_file(ckpt_path)[:16], kind="onnx",
                 file=Path(p).name, sha256=sha256_file(p), inputs=[], outputs=[], config=model.cfg.to_dict(),
                 source={"checkpoint": str(ckpt_path), "training_data": "fpha_train_half"}, software=software_versions(),
                 parity={"onnxruntime_cpu_vs_torch_sample": parity},
                 rebuild_command=f"python -m hand_training.forecasting.train_fpha --export-only --out {out}").write(p)
    return {k: str(v) for k, v in paths.items()} | {"parity": parity}


def model_card(out: Path, kind: str, conf: dict, info: dict, summary: dict, report: dict, exported: dict | None) -> Path:
    rows = []
    for name, r in report["methods"].items():
        if r.get("windows"):
            rows.append(f"| {name} | {r['ade_mean@0.5s']:.1f} | {r['ade_mean@1.0s']:.1f} | {r['fde_mean@1.0s']:.1f} | "
                        f"{r['ade_min@1.0s']:.1f} | {r['coverage_5_95']:.2f} |")
    text = f"""# Model card: {kind} forecaster trained on F-PHAB

**Licence: research only.** {LICENCE}

- Data: official F-PHAB 1:1 action-recognition **training half** ({info['train_sequences']} sequences for training,
  split from the split file; {info['augmented_sequences']} augmented copies: {json.dumps(conf.get('data', {}).get('augment'))}).
  The test half (including the 45 Subject_1 repetition-1 files) was not used.
- Validation split: by subject, {', '.join(info['val_subjects'])} ({info['val_sequences']} training-half sequences, never trained on).
- Protocol: observe 0.5 s (16 frames at 30 fps), forecast 1 s (30 frames); windows every
  {conf.get('eval', {}).get('stride_s', 0.25)} s; {report['windows']} validation windows; mm; K = {conf.get('eval', {}).get('samples', 20)} samples.
- Joint layout: {JOINT_LAYOUT} (21 joints, MediaPipe order), both hand slots (left = mirrored right hand).
- Training: {json.dumps(summary)}
- Config: {json.dumps(conf.get('model'))}
- ONNX: {json.dumps(exported) if exported else 'not exported'}

| method (validation subjects) | ADE@0.5s | ADE@1s | FDE@1s | best-of-K ADE@1s | 5-95 % coverage |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Numbers on the official test half: `python benchmarks/eval_forecasting.py --data DIR --{'ghtt' if kind == 'ghtt' else 'diffusion'} {out}/{'ghtt.pt' if kind == 'ghtt' else 'diffusion_forecaster.pt'}`.
"""
    p = out / "MODEL_CARD.md"
    p.write_text(text)
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=None, help="folder laid out like ../shared/data (default: the config's data.root)")
    ap.add_argument("--max-sequences", type=int, default=None, help="use only this many training sequences (smoke tests)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training and evaluation: ONNX export and model card of the run under --out")
    ap.add_argument("--eval-only", action="store_true",
                    help="skip training: load the checkpoint under --out, calibrate, evaluate, export, write the card")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    try:
        conf = yaml.safe_load(Path(args.config).read_text())
        kind = str(conf.get("kind", "ghtt"))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        train_seqs, val_seqs, info = build_data(conf, _data_root(conf, args.data), args.max_sequences)
        if args.eval_only or args.export_only:
            load_trained(kind, out)  # fail early with one line
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"data": info}), flush=True)
    if args.export_only:
        model, ckpt_path, summary = load_trained(kind, out)
        report = json.loads((out / "report.json").read_text())
        exported = export_onnx(kind, ckpt_path, model, out)
        model_card(out, kind, conf, info, {**summary, **report.get("training", {})}, report, exported)
        print(json.dumps({"exported": exported}, default=str))
        return 0
    if args.eval_only:
        model, ckpt_path, summary = load_trained(kind, out)
    else:
        model, ckpt_path, summary = train_model(kind, conf, train_seqs, out, progress=not args.no_progress)
    if ckpt_path is None:  # a torchrun worker other than rank 0: rank 0 evaluates and exports
        return 0
    if kind == "ghtt" and conf.get("eval", {}).get("calibrate_spread", True):
        scales = tuple(float(x) for x in conf.get("eval", {}).get("calibration_scales", (1.0, 5.0, 10.0, 20.0, 40.0)))
        summary["spread_calibration"] = calibrate_spread(model, val_seqs, conf, scales)
        resave(kind, model, ckpt_path)
    report = evaluate_model(kind, model, val_seqs, conf, progress=not args.no_progress)
    report.update({"split": "validation subjects " + ",".join(info["val_subjects"]) + " (FPHA training half)",
                   "checkpoint": str(ckpt_path), "data": info, "training": summary})
    (out / "report.json").write_text(json.dumps(report, indent=1))
    FE.plot_report(report["methods"], str(out / "report.png"), f"{kind} on FPHA validation subjects")
    exported = None
    if not args.no_export:
        try:
            exported = export_onnx(kind, ckpt_path, model, out)
        except Exception as exc:  # noqa: BLE001 - export problems must not lose the trained model
            print(f"error: ONNX export failed: {exc}", file=sys.stderr)
    model_card(out, kind, conf, info, summary, report, exported)
    short = {n: {k: round(r[k], 2) for k in ("ade_mean@0.5s", "ade_mean@1.0s", "fde_mean@1.0s", "ade_min@1.0s", "coverage_5_95")}
             for n, r in report["methods"].items() if r.get("windows")}
    print(json.dumps({"checkpoint": str(ckpt_path), "val_mm": short, "training_seconds": summary["seconds"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
