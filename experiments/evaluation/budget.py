"""Table of training variants tried within the default job's time budget (see README, "Within 5 minutes").

    python experiments/evaluation/budget.py <job folder> [<job folder> ...] > experiments/evaluation/budget.md

One row per job: its overrides (from .hydra/overrides.yaml), epochs, training time, test PSNR, and
classifier M's denoised and reconstructed accuracy (from metrics.json and classifier_report.json).
"""

import json
import sys
from pathlib import Path

import yaml


def row(job: Path) -> str:
    overrides = [o for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or [] if not o.startswith("hydra.")]
    m = json.loads((job / "metrics.json").read_text())
    acc = {k: v["accuracy"] for k, v in json.loads((job / "classifier_report.json").read_text()).items()}
    seconds = f"{m['train_seconds']:.0f}" if m.get("train_seconds") else "-"
    return f"| `{' '.join(overrides) or '(defaults)'}` | {m['epochs']} | {seconds} | {m['test/psnr']:.2f} | {acc['denoised']:.4f} | {acc['reconstructed']:.4f} |"


if __name__ == "__main__":
    print("| overrides | epochs | train s | test PSNR | M denoised | M reconstructed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for job in sys.argv[1:]:
        print(row(Path(job)))
