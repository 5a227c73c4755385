"""Action recognition on F-PHAB's official 1:1 split: train, evaluate, export.

    python -m hand_training.actions train --config training/configs/actions_fpha.yaml [--out DIR] [--data DIR]
    python -m hand_training.actions evaluate --recognizer CKPT [--data DIR] [--out report.json]
    python -m hand_training.actions export --recognizer CKPT --out DIR

``train`` (config ``kind: recognizer``, default) cross-validates and trains every model in the
config, evaluates on the test-half sequences present, writes ``report.json``, plots, model cards
and ``recognizer.pt`` (the better model by cross-validated top-1). With ``kind: ghtt`` it trains
G-HTT's P and A blocks on the training half and evaluates the action block. Under ``torchrun``
the recogniser training runs data-parallel (DDP). ``evaluate`` scores any recogniser or G-HTT
checkpoint on the test-half sequences present and prints a JSON last line. Errors print
``error: ...`` (no traceback) and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
DEFAULT_DATA = os.environ.get("HAND_PERCEPTION_SHARED_DATA", str(REPO.parent / "shared" / "data"))


def _train(args) -> dict:
    conf = yaml.safe_load(Path(args.config).read_text()) or {}
    out = Path(args.out or conf.get("out") or REPO / "outputs" / Path(args.config).stem)
    command = "python -m hand_training.actions " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if conf.get("kind", "recognizer") == "ghtt":
        return _train_ghtt(conf, out, args.data, command)
    from .pipeline import run

    res = run(conf, out, args.data, progress=not args.no_progress, command=command, config_path=args.config,
              cached_only=args.cached_only)
    summary = {"out": str(out), "selected": res.get("selected", {}).get("model")}
    for name, e in res["models"].items():
        summary[name] = {"cv_top1": e.get("cv", {}).get("top1"), "cv_online_top1": e.get("cv", {}).get("online_top1"),
                         "test45_top1": e.get("test", {}).get("top1"), "test45_online_top1": e.get("test", {}).get("online_top1")}
    return summary


def _train_ghtt(conf: dict, out: Path, data: str, command: str) -> dict:
    import torch

    from . import report
    from .data import load_fpha_split
    from .evaluate import evaluate_recognizer
    from .ghtt_actions import train_ghtt_actions

    torch.set_num_threads(int(conf.get("threads", 1)))
    out.mkdir(parents=True, exist_ok=True)
    split = load_fpha_split(data)
    hold = conf.get("holdout_subject")
    res: dict = {"taxonomy": "fpha", "kind": "ghtt"}
    model = None
    if hold:  # one leave-one-subject-out fold as the validation estimate
        tr = [s for s in split.train if s.subject != hold]
        va = [s for s in split.train if s.subject == hold]
        model, info = train_ghtt_actions(tr, split.labels, conf, out / f"holdout_{hold}", progress=True)
        res["holdout"] = {"subject": hold, "train_info": info, **_brief(evaluate_recognizer(model, va))}
    # P is label-free: the holdout fold's P (trained without the held-out subject) is reused for the final A
    model, info = train_ghtt_actions(split.train, split.labels, conf, out, progress=True,
                                     pose_from=model if hold else None)
    res["train_info"] = info
    if split.test:
        ev = evaluate_recognizer(model, split.test)
        res["test"] = _brief(ev)
        report.plot_report(ev, out / "plots", "ghtt_test45")
    report.write_json(out / "report.json", res)
    report.write_model_card(out / "ghtt_actions.card.md", "G-HTT (P + A) action block", {
        "taxonomy": "fpha", "num_classes": len(split.labels), "architecture": str(conf.get("model")),
        "input": "both hands' G-HTT features in clips of t frames (the hand mirrored into the left slot in augmentation)",
        "data": f"F-PHAB official 1:1 training half ({len(split.train)} sequences)",
        "split": "F-PHAB data_split_action_recognition.txt", "validation": f"one held-out subject ({hold})" if hold else "none",
        "augmentation": "speed, rotation, scale, mirroring (copies)",
        "metrics": {"holdout top-1": res.get("holdout", {}).get("top1"), "test45 top-1": res.get("test", {}).get("top1"),
                    **{f"test45 online {k} s": v for k, v in res.get("test", {}).get("online_top1", {}).items()}},
        "command": command, "config": conf, "seconds": info.get("seconds"), "threads": conf.get("threads", 1)})
    return {"out": str(out), "holdout": res.get("holdout"), "test45": res.get("test")}


def _brief(ev: dict) -> dict:
    return {k: ev.get(k) for k in ("top1", "sequences", "online_top1", "skipped", "fpha_1to1_top1", "fpha_1to1_sequences")}


def _evaluate(args) -> dict:
    from . import report
    from .data import load_fpha_split
    from .evaluate import evaluate_recognizer

    split = load_fpha_split(args.data, parts=("test",))
    res = evaluate_recognizer(args.recognizer, split.test)
    res["missing_test_sequences"] = len(split.missing)
    if split.missing:
        print(f"warning: {len(split.missing)} test-half sequences of the split file are missing; evaluated the "
              f"{len(split.test)} present", file=sys.stderr)
    if args.out:
        report.write_json(args.out, res)
        report.plot_report(res, Path(args.out).parent / "plots", Path(args.out).stem)
    return {k: res.get(k) for k in ("fpha_1to1_top1", "fpha_1to1_sequences", "top1", "online_top1", "missing_test_sequences",
                                    "skipped")}


def _export(args) -> dict:
    from .export import export_recognizer

    path = export_recognizer(args.recognizer, args.out, args.name)
    return {"onnx": str(path), "manifest": str(path) + ".manifest.json"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hand_training.actions", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--config", required=True)
    t.add_argument("--out")
    t.add_argument("--data", default=DEFAULT_DATA)
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--cached-only", action="store_true",
                   help="train nothing: report the final models and CV folds already in the run folder")
    e = sub.add_parser("evaluate")
    e.add_argument("--recognizer", required=True)
    e.add_argument("--data", default=DEFAULT_DATA)
    e.add_argument("--out")
    x = sub.add_parser("export")
    x.add_argument("--recognizer", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--name", default="action_recognizer")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.time()
    try:
        res = {"train": _train, "evaluate": _evaluate, "export": _export}[args.cmd](args)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res["seconds"] = round(time.time() - t0, 1)
    if int(os.environ.get("RANK", "0")) == 0:  # one JSON line under torchrun too
        print(json.dumps(res, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
