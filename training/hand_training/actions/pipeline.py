"""One path from data to engine for FPHA action recognition: split -> augmented views ->
leave-one-subject-out cross-validation within the training half -> final models on the whole
training half -> evaluation on the test-half sequences present -> report JSON + plots -> model
cards; the better model by cross-validated top-1 becomes ``recognizer.pt`` (the default).

Resumable at fold / model granularity: a finished fold (``cv/<model>_<subject>.json``) or final
model (``<model>.pt``) is not redone. Outputs go under the run folder (keep it in ``outputs/``,
which git ignores: weights trained on FPHA must never be committed or shipped).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hand_models.networks.actions.model import EnsembleRecognizer, RecognizerConfig, load_checkpoint, save_checkpoint

from . import report
from .data import TAXONOMY, AugmentConfig, LabelledSequence, Split, load_fpha_split
from .evaluate import ONLINE_S, evaluate_recognizer, top1
from .train import (ALL_GROUPS, ModelSpec, TrainConfig, _dist, build_views, plain_features, predict_features,
                    train_recognizer, view_groups)

log = logging.getLogger(__name__)


def model_specs(conf: dict) -> list[ModelSpec]:
    base = dict(conf.get("train", {}))
    specs = []
    for name, m in (conf.get("models") or {}).items():
        m = dict(m)
        groups = tuple(m.pop("groups", ALL_GROUPS))
        tr = TrainConfig(**{**base, **m.pop("train", {})})
        specs.append(ModelSpec(name, RecognizerConfig(**m), groups, tr))
    if not specs:
        raise ValueError("config has no models")
    return specs


def _views(conf: dict, seqs: list[LabelledSequence], out: Path, progress: bool, groups: tuple[str, ...]) -> np.ndarray:
    length = int(conf.get("length", 32))
    n = int(conf.get("views", 16))
    path = out / f"views_{n}x{length}_{'-'.join(groups)}.npy"
    if path.exists():
        v = np.load(path)
        if v.shape[:3] == (len(seqs), n, length):
            return v
    v = build_views(seqs, n, length, AugmentConfig.from_dict(conf.get("augment")), int(conf.get("train", {}).get("seed", 0)),
                    progress, groups)
    if _dist()[0] == 0:
        np.save(path, v)
    return v


def _eval_features(seqs: list[LabelledSequence], length: int, groups: tuple[str, ...]) -> dict[str, np.ndarray]:
    feats = {"whole": plain_features(seqs, length, None, groups)}
    for t in ONLINE_S:
        feats[str(t)] = plain_features(seqs, length, t, groups)
    return feats


def _scores(model, feats: dict[str, np.ndarray], y: np.ndarray, base: tuple[str, ...]) -> dict:
    probs = {k: predict_features(model, f, base=base) for k, f in feats.items()}
    return {"top1": top1(probs["whole"], y), "online_top1": {k: top1(p, y) for k, p in probs.items() if k != "whole"},
            "pred": probs["whole"].argmax(1).tolist(),
            "probs": {k: np.round(p, 5).tolist() for k, p in probs.items()}}  # for ensembles of finished folds


PROTOCOLS = {
    "loso": "leave-one-subject-out within the official training half",
    "repetition": "by repetition within the official training half (per subject and action, alternate repetitions "
                  "in two folds: like the 1:1 protocol, the validation subjects also appear in training)",
}


def fold_groups(split: Split, protocol: str) -> np.ndarray:
    """Fold name of every training sequence: its subject ('loso') or repA / repB ('repetition')."""
    if protocol == "loso":
        return np.array([s.subject for s in split.train])
    if protocol == "repetition":
        by_pair: dict[tuple[str, int], list[int]] = {}
        for i, s in enumerate(split.train):
            by_pair.setdefault((s.subject, s.label), []).append(i)
        out = np.empty(len(split.train), dtype=object)
        for idx in by_pair.values():
            for k, i in enumerate(sorted(idx, key=lambda i: int(split.train[i].name.rsplit("/", 1)[-1]))):
                out[i] = "repA" if k % 2 == 0 else "repB"
        return out.astype(str)
    raise ValueError(f"unknown CV protocol {protocol!r}; known: {sorted(PROTOCOLS)}")


def cross_validate(spec: ModelSpec, split: Split, views: np.ndarray, length: int, out: Path, progress: bool,
                   base: tuple[str, ...] = ALL_GROUPS, cached_only: bool = False, protocol: str = "loso") -> dict:
    """Cross-validation within the training half (``protocol``: see PROTOCOLS): per fold, train on
    the others. ``cached_only`` reports the folds already finished and trains none (the result
    says which)."""
    y = np.array([s.label for s in split.train])
    subjects = fold_groups(split, protocol)
    feats = _eval_features(split.train, length, base)
    folds = {}
    preds = np.full(len(y), -1)
    online = {str(t): np.zeros(len(y)) for t in ONLINE_S}
    for subj in sorted(set(subjects)):
        path = out / "cv" / f"{spec.name}_{subj}.json"
        test = subjects == subj
        if path.exists():
            import json

            r = json.loads(path.read_text())
        elif cached_only:
            continue
        else:
            t0 = time.time()
            model = train_recognizer(spec, views[~test], y[~test], split.labels, length, TAXONOMY, progress,
                                     desc=f"{spec.name} cv {subj}", base=base)
            r = _scores(model, {k: f[test] for k, f in feats.items()}, y[test], base)
            r["seconds"] = round(time.time() - t0, 1)
            r["correct"] = [int(p == t) for p, t in zip(r["pred"], y[test])]
            if _dist()[0] == 0:
                report.write_json(path, r)
        folds[subj] = {"top1": r["top1"], "online_top1": r["online_top1"], "sequences": int(test.sum()),
                       "seconds": r.get("seconds")}
        preds[test] = r["pred"]
        log.info("%s cv %s: top-1 %.3f", spec.name, subj, r["top1"])
    done = preds >= 0
    n = int(done.sum())
    if n == 0:
        return {"protocol": PROTOCOLS[protocol], "folds": {}, "top1": None, "sequences": 0, "online_top1": {},
                "confusion_pred": preds.tolist()}
    return {"protocol": f"{PROTOCOLS[protocol]} ({len(folds)} of {len(set(subjects))} folds)",
            "top1": float((preds[done] == y[done]).mean()), "sequences": n,
            "online_top1": {k: float(np.sum([folds[s]["online_top1"][k] * folds[s]["sequences"] for s in folds]) / n)
                            for k in online},
            "folds": folds, "confusion_pred": preds.tolist()}


def run(conf: dict, out: str | Path, data: str | Path, progress: bool = True, command: str = "", config_path: str = "",
        cached_only: bool = False) -> dict:
    """Train / cross-validate / evaluate every model of ``conf``; write report, plots, cards."""
    torch.set_num_threads(int(conf.get("threads", 1)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rank, _ = _dist()
    split = load_fpha_split(data)
    if not split.train:
        raise ValueError(f"no training-half sequences found under {data}")
    length = int(conf.get("length", 32))
    specs = model_specs(conf)
    base = view_groups(*[s.groups for s in specs])
    views = _views(conf, split.train, out, progress, base)
    y = np.array([s.label for s in split.train])
    res: dict = {"taxonomy": TAXONOMY, "data": str(data), "train_sequences": len(split.train),
                 "test_sequences_present": len(split.test), "missing_sequences": list(split.missing),
                 "models": {}}
    for spec in specs:
        t0 = time.time()
        entry: dict = {"config": spec.config.to_dict(), "groups": list(spec.groups), "train": asdict(spec.train)}
        path = out / f"{spec.name}.pt"  # the final model first, then the CV folds
        if path.exists():
            model = load_checkpoint(path, taxonomy=TAXONOMY)
        elif cached_only:
            raise FileNotFoundError(f"{path} not trained yet (run without --cached-only)")
        else:
            model = train_recognizer(spec, views, y, split.labels, length, TAXONOMY, progress, desc=f"{spec.name} final",
                                     base=base)
            if rank == 0:
                save_checkpoint(path, model, {"trained_on": "FPHA 1:1 training half (600 sequences)",
                                              "groups": list(spec.groups)})
        if split.test:
            entry["test"] = evaluate_recognizer(model, split.test)
        if conf.get("cv", True):
            for protocol in conf.get("cv_protocols", ["loso"]):
                entry[_cv_key(protocol)] = cross_validate(spec, split, views, length, out, progress, base, cached_only,
                                                          protocol)
        entry["seconds"] = round(time.time() - t0, 1)
        res["models"][spec.name] = entry
    for name, members in (conf.get("ensembles") or {}).items():
        res["models"][name] = _ensemble(name, list(members), res["models"], split, out,
                                        conf.get("cv_protocols", ["loso"]) if conf.get("cv", True) else [])
    if rank != 0:
        return res
    select_by = conf.get("select_by", "loso")
    best, by = _select(res["models"], _cv_key(select_by))
    res["selected"] = {"model": best, "by": by}
    for protocol in conf.get("cv_protocols", ["loso"]) if conf.get("cv", True) else []:
        res[f"best_by_{protocol}"] = _select(res["models"], _cv_key(protocol))[0]
    shutil.copyfile(out / f"{best}.pt", out / "recognizer.pt")
    _write_outputs(res, split, out, conf, command, config_path)
    return res


def _cv_key(protocol: str) -> str:
    return "cv" if protocol == "loso" else f"cv_{protocol}"


def _ensemble(name: str, members: list[str], models: dict, split: Split, out: Path, protocols: list[str]) -> dict:
    """Mean probability of finished models: CV from their stored fold probabilities (folds all
    members finished), test from the final checkpoints, saved as one checkpoint ``<name>.pt``."""
    import json

    missing = [m for m in members if m not in models]
    if missing:
        raise ValueError(f"ensemble {name}: unknown models {missing}")
    model = EnsembleRecognizer([load_checkpoint(out / f"{m}.pt", taxonomy=TAXONOMY) for m in members])
    save_checkpoint(out / f"{name}.pt", model, {"members": members})
    entry: dict = {"members": members, "groups": list(model.features.groups),
                   "config": {"ensemble": members}}
    if split.test:
        entry["test"] = evaluate_recognizer(model, split.test)
    for protocol in protocols:
        r = _ensemble_cv(members, models, split, out, protocol)
        if r:
            entry[_cv_key(protocol)] = r
    return entry


def _ensemble_cv(members: list[str], models: dict, split: Split, out: Path, protocol: str) -> dict | None:
    import json

    key = _cv_key(protocol)
    y = np.array([s.label for s in split.train])
    subjects = fold_groups(split, protocol)
    common = set.intersection(*[set(models[m].get(key, {}).get("folds", {})) for m in members])
    folds, preds = {}, np.full(len(y), -1)
    online = {}
    for subj in sorted(common):
        rs = [json.loads((out / "cv" / f"{m}_{subj}.json").read_text()) for m in members]
        if not all("probs" in r for r in rs):
            continue
        test = subjects == subj
        probs = {k: np.mean([np.asarray(r["probs"][k]) for r in rs], 0) for k in rs[0]["probs"]}
        preds[test] = probs["whole"].argmax(1)
        folds[subj] = {"top1": top1(probs["whole"], y[test]), "sequences": int(test.sum()),
                       "online_top1": {k: top1(p, y[test]) for k, p in probs.items() if k != "whole"}}
        for k, p in probs.items():
            online.setdefault(k, []).append((p.argmax(1) == y[test]).sum())
    if not folds:
        return None
    done = preds >= 0
    n = int(done.sum())
    return {"protocol": f"{PROTOCOLS[protocol]} ({len(folds)} folds), mean of the members' probabilities",
            "top1": float((preds[done] == y[done]).mean()), "sequences": n, "folds": folds,
            "online_top1": {k: float(sum(v) / n) for k, v in online.items() if k != "whole"},
            "confusion_pred": preds.tolist()}


def _select(models: dict, key: str = "cv") -> tuple[str, str]:
    """The model with the best CV top-1 (``key``: 'cv' = LOSO, 'cv_repetition') over the folds
    every model finished (else test top-1)."""
    common = set.intersection(*[set(e.get(key, {}).get("folds", {})) for e in models.values()])
    if common:
        def score(e):
            f = e[key]["folds"]
            return sum(f[s]["top1"] * f[s]["sequences"] for s in common) / sum(f[s]["sequences"] for s in common)
        return max(models, key=lambda k: score(models[k])), f"CV top-1 over the folds {sorted(common)}"
    return max(models, key=lambda k: models[k].get("test", {}).get("top1") or -1.0), "test-half top-1 (no CV folds)"


def _write_outputs(res: dict, split: Split, out: Path, conf: dict, command: str, config_path: str) -> None:
    from .evaluate import confusion

    y = np.array([s.label for s in split.train])
    for name, e in res["models"].items():
        for key in [k for k in e if k == "cv" or k.startswith("cv_")]:
            pred = np.array(e[key].pop("confusion_pred"))
            cm = confusion(pred[pred >= 0], y[pred >= 0], len(split.labels))
            with np.errstate(invalid="ignore", divide="ignore"):
                per = np.diag(cm) / cm.sum(1)
            cvres = {"labels": split.labels, "confusion": cm.tolist(), "top1": e[key]["top1"],
                     "sequences": e[key]["sequences"],
                     "per_class_top1": {split.labels[i]: float(per[i]) for i in range(len(per)) if cm[i].sum() > 0},
                     "online_top1": e[key]["online_top1"]}
            e[key]["per_class_top1"] = cvres["per_class_top1"]
            report.plot_report(cvres, out / "plots", f"{name}_{key}")
        if "test" in e:
            report.plot_report(e["test"], out / "plots", f"{name}_test45")
        metrics = {}
        for key, what in (("cv", "CV leave-one-subject-out"), ("cv_repetition", "CV by repetition")):
            if key in e:
                metrics[f"{what} top-1 ({e[key]['sequences']} sequences)"] = e[key]["top1"]
                metrics.update({f"{what} online top-1 after {k} s": v for k, v in e[key]["online_top1"].items()})
        if "test" in e:
            metrics[f"test-half sequences present ({e['test']['sequences']}) top-1"] = e["test"]["top1"]
            metrics.update({f"test online top-1 after {k} s": v for k, v in e["test"]["online_top1"].items()})
        report.write_model_card(out / f"{name}.card.md", name, {
            "taxonomy": TAXONOMY, "num_classes": len(split.labels), "joint_layout": "canonical21",
            "architecture": f"{e['config']} over feature groups {e['groups']}",
            "input": f"one hand (a left hand mirrored), gaps filled, resampled to {conf.get('length', 32)} frames",
            "data": f"F-PHAB official 1:1 training half ({len(split.train)} sequences, 6 subjects, 45 actions); the "
                    f"{len(split.test)} test-half sequences present were never trained on",
            "split": "F-PHAB data_split_action_recognition.txt (600 train / 575 test)",
            "validation": "cross-validation within the training half: leave-one-subject-out (6 folds; pessimistic for "
                          "the 1:1 protocol, whose test subjects also appear in training) and by repetition (2 folds, "
                          "alternate repetitions of each subject and action, the structure of the 1:1 split)",
            "augmentation": str(AugmentConfig.from_dict(conf.get("augment"))),
            "metrics": metrics, "command": command, "config": config_path,
            "seconds": f"{e.get('seconds')} (this invocation); CV folds "
                       f"{round(sum(f.get('seconds') or 0 for k in e if k.startswith('cv') for f in e[k]['folds'].values()))}",
            "threads": conf.get("threads", 1)})
    report.write_json(out / "report.json", res)
