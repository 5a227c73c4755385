"""Speed of online action labels in the forecaster (CPU): the hand_forecaster's per-frame work
(observe every frame, forecast + actions at ``forecast.rate_hz``) with an action recogniser
configured (``forecast.recognizer``), on a 30 fps stream of one moving right hand.

    python benchmarks/bench_actions.py [--recognizer CKPT] [--threads 1] [--seconds 10]

Without ``--recognizer`` a randomly initialised recogniser of the default config's "skeleton"
architecture is used (same cost as a trained one). Prints a table, then a JSON last line with
``actions_ms_mean`` / ``actions_ms_p95`` (one recogniser call), ``frame_ms_mean`` (observe +
forecast + actions per forecast tick) and ``max_rate_hz`` = 1000 / p95 of a tick.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def _random_checkpoint(path: Path) -> str:
    from hand_models.networks.actions.features import FeatureConfig
    from hand_models.networks.actions.model import ActionRecognizerNet, RecognizerConfig, save_checkpoint

    conf = yaml.safe_load((REPO / "training" / "configs" / "actions_fpha.yaml").read_text())
    m = dict(conf["models"]["skeleton"])
    groups = tuple(m.pop("groups")) if "groups" in m else FeatureConfig().groups
    model = ActionRecognizerNet([f"a{i}" for i in range(45)], FeatureConfig(length=int(conf["length"]), groups=groups),
                                RecognizerConfig(**m), "fpha")
    return str(save_checkpoint(path, model))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recognizer")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hand_perception.core.config import pipeline_config_from_dict
    from hand_perception.core.learned_forecasting import hand_state_from_joints
    from hand_perception.core.pipeline import build_forecaster

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.recognizer or _random_checkpoint(Path(tmp) / "random.pt")
        cfg = pipeline_config_from_dict({"forecast": {"recognizer": ckpt, "recognizer_taxonomy": ""}})
        fc = build_forecaster(cfg)
        rng = np.random.default_rng(0)
        base = rng.normal(scale=0.03, size=(21, 3)) + [0.0, 0.0, 0.5]
        fps, rate = 30.0, cfg.forecast.rate_hz
        n = int(args.seconds * fps)
        act_ms, tick_ms, labels = [], [], []
        next_tick = 0.0
        for i in range(n):
            t = i / fps
            j = base + [0.1 * np.sin(t), 0.05 * np.cos(2 * t), 0.0]
            hands = [hand_state_from_joints("right", j, track_id=1)]
            t0 = time.perf_counter()
            fc.observe(int(t * 1e9), "cam", hands)
            if t + 1e-9 >= next_tick:
                next_tick += 1.0 / rate
                fc.forecast()
                t1 = time.perf_counter()
                acts = fc.recognizer.actions()
                act_ms.append((time.perf_counter() - t1) * 1e3)
                labels.append(sum(a.taxonomy == fc.recognizer.taxonomy for a in acts))
                tick_ms.append((time.perf_counter() - t0) * 1e3)
    act = np.array(act_ms[5:])
    tick = np.array(tick_ms[5:])
    res = {"recognizer": "given" if args.recognizer else "random-init skeleton config", "threads": args.threads,
           "forecast_rate_hz": rate, "ticks": len(tick), "ticks_with_label": int(np.sum(np.array(labels[5:]) > 0)),
           "actions_ms_mean": round(float(act.mean()), 2), "actions_ms_p95": round(float(np.percentile(act, 95)), 2),
           "frame_ms_mean": round(float(tick.mean()), 2), "frame_ms_p95": round(float(np.percentile(tick, 95)), 2),
           "max_rate_hz": round(1000.0 / float(np.percentile(tick, 95)), 1)}
    for k, v in res.items():
        print(f"{k:>20}: {v}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
