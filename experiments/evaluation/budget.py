"""Table of training variants: one row per job, for the README's recipe tables.

    python experiments/evaluation/budget.py <job folder> [<job folder> ...] > experiments/evaluation/budget.md

Each row: the job's overrides (hydra.* left out), epochs, training seconds, test PSNR, and classifier M's
accuracy on the denoised and reconstructed test images, from the job's files (dae.reporting.job_row).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dae.jobs import load_job
from dae.reporting import job_row

HEADER = "| overrides | epochs | train s | test PSNR | M denoised | M reconstructed |\n| --- | --- | --- | --- | --- | --- |"


def row(folder: Path) -> str:
    r = job_row(folder)
    if r["status"] != "ok":
        raise SystemExit(f"{folder}: the job did not finish ({r['error']})")
    overrides = " ".join(o for o in load_job(folder).overrides if not o.startswith("hydra."))
    seconds = f"{r['train_seconds']:.0f}" if r["train_seconds"] else "-"
    return f"| `{overrides or '(defaults)'}` | {r['epochs']} | {seconds} | {r['test_psnr']:.2f} | {r['acc_denoised']:.4f} | {r['acc_reconstructed']:.4f} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="finished job folders (python -m dae.train ...)")
    args = parser.parse_args(argv)
    print(HEADER)
    for folder in args.jobs:
        print(row(folder))


if __name__ == "__main__":
    main()
