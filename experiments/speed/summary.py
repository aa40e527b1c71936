"""The bench.json files under a folder as one table, with each bench's overrides and what an epoch
of MNIST's 55,000 training images takes: ``python experiments/speed/summary.py [folder]``
(default ``outputs``, where ``python -m dae.bench`` writes under the working directory).

``epoch s`` is 55,000 images at the project rate; ``over bare s`` is that less the same images at
the bare rate: what Lightning and the project's data, metrics, logging and callbacks cost per epoch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

TRAIN_IMAGES = 55_000


def overrides(bench_json: Path) -> str:
    saved = bench_json.parent / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        return "?"
    kept = [o for o in yaml.safe_load(saved.read_text()) or [] if not o.startswith(("paths.", "bench.steps="))]  # where it ran, not what
    return " ".join(kept) or "(defaults)"


def row(path: Path) -> str:
    result = json.loads(path.read_text())
    rate = result["samples_per_s"]
    cells = [f"{rate[m]:.0f}" if m in rate else "" for m in ("bare", "project", "tutorial")]
    epoch = over = ""
    if "project" in rate:
        epoch = f"{TRAIN_IMAGES / rate['project']:.2f}"
        if "bare" in rate:
            over = f"{TRAIN_IMAGES / rate['project'] - TRAIN_IMAGES / rate['bare']:.2f}"
    ratios = [f"{result[k]:.2f}" if k in result else "" for k in ("ratio_vs_bare", "ratio_vs_tutorial")]
    setup = f"{result['precision']}, batch {result['batch_size']}, {'channels-last' if result['channels_last'] else 'contiguous'}"
    return "| " + " | ".join([overrides(path), setup, *cells, *ratios, epoch, over]) + " |"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    root = argv[0] if argv else "outputs"
    files = sorted(Path(root).rglob("bench.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        print(f"no bench.json under {root}")
        return
    print(json.loads(files[0].read_text())["hardware"], "| torch", json.loads(files[0].read_text())["torch"])
    print("| overrides | setup | bare | project | tutorial | ratio_vs_bare | ratio_vs_tutorial | epoch s | over bare s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in files:
        print(row(path))


if __name__ == "__main__":
    main()
