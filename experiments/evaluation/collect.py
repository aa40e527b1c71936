"""Collect the figures of finished jobs (trained with ``callbacks=with_probe``) next to this file.

    python experiments/evaluation/collect.py <job folder> [<job folder> ...]

Writes results.md (one row per job: noise and level, epochs, PSNR, SSIM, classifier M's accuracies, the
SVM probe and its control) and results.csv (dae.report's columns, with the noise and level), and copies
each job's reconstruction grid and latent picture as ``<noise>_<level>_<epochs>ep_reconstructions.png``
and ``..._latent_2d.png``. The figures are the job's own files, read by dae.reporting.job_row.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hydra.utils import instantiate

from dae.files import write_csv, write_text
from dae.jobs import load_job
from dae.reporting import COLUMNS, job_row

HERE = Path(__file__).resolve().parent
HEADER = (
    "| noise (level) | epochs | noisy PSNR | test PSNR | test SSIM | M clean | M noisy | M denoised | M reconstructed | SVM probe | control |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)
ROW_CELLS = (  # results.md: (column of job_row, digits)
    ("epochs", None), ("noisy_psnr", 2), ("test_psnr", 2), ("test_ssim", 4), ("acc_clean", 4), ("acc_noisy", 4),
    ("acc_denoised", 4), ("acc_reconstructed", 4), ("probe_acc", 4), ("probe_control", 4),
)  # fmt: skip


def cell(value, digits: int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits is not None else str(value)


def collect(folder: Path) -> dict:
    """The job's row of dae.report, with its noise (``noise``) and level (``level``: ``sigma=0.5``)."""
    row = job_row(folder)
    if row["status"] != "ok":
        raise SystemExit(f"{folder}: the job did not finish ({row['error']})")
    noise = instantiate(load_job(folder).cfg.noise)
    level = f"{noise.level_name}={getattr(noise, noise.level_name)}" if noise.level_name else ""
    return {**row, "noise": noise.name, "level": level, "folder": str(folder)}


def markdown_row(row: dict) -> str:
    cells = [f"`{row['noise']}` ({row['level'] or '-'})"] + [cell(row[key], digits) for key, digits in ROW_CELLS]
    return "| " + " | ".join(cells) + " |"


def copy_figures(folder: Path, row: dict) -> None:
    level = row["level"].split("=")[-1]
    name = f"{row['noise']}_{level}_{row['epochs']}ep" if level else f"{row['noise']}_{row['epochs']}ep"
    for source, suffix in ((folder / "reconstructions.png", "reconstructions"), (folder / "probe" / "latent_2d.png", "latent_2d")):
        if source.is_file():
            shutil.copyfile(source, HERE / f"{name}_{suffix}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="finished job folders, in the order of the table's rows")
    args = parser.parse_args(argv)
    rows = [collect(folder) for folder in args.jobs]
    for folder, row in zip(args.jobs, rows):
        copy_figures(folder, row)
    table = HEADER + "\n" + "\n".join(markdown_row(r) for r in rows) + "\n"
    write_text(HERE / "results.md", table)
    write_csv(HERE / "results.csv", rows, ("noise", "level", *COLUMNS, "folder"))
    print(table, end="")


if __name__ == "__main__":
    main()
