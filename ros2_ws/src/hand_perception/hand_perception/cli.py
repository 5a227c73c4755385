"""``hand-perception`` command line: run, replay, make-bag."""

from __future__ import annotations

import sys

USAGE = """usage: hand-perception <command> [options]

commands:
  run        estimator over a video, image folder, camera or the rendered demo scene (default)
  replay     run the pipeline over a rosbag2 / video / image folder, write an output bag and metrics
  make-bag   turn a video or image folder (with intrinsics) into a rosbag2 with Image + CameraInfo
  export     export a registered model to ONNX (and a TensorRT engine where available) with a manifest
  bench      per-stage latency, throughput and memory of each model on each available backend

'hand-perception <command> --help' for the options of a command.
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        from hand_perception.run import main as run_main

        return run_main(rest)
    if command == "replay":
        from hand_perception.replay.cli import replay_main

        return replay_main(rest)
    if command == "make-bag":
        from hand_perception.replay.cli import make_bag_main

        return make_bag_main(rest)
    if command == "export":
        from hand_models.inference.export import export_main

        return export_main(rest) or 0
    if command == "bench":
        from hand_models.inference.bench import bench_main

        return bench_main(rest) or 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
