"""PSNR and denoised accuracy against noise level, one figure per noise type, comparing models.

    python -m dae.evaluate run=<job> levels=[0.1,0.2,...]      # first, for each job: writes <job>/levels.json
    python experiments/robustness/robustness.py <job>... [--out experiments/robustness]

Jobs are grouped by the noise they were trained on; each is labelled by what it was trained at
(the benchmark level, or the range of ``data.train_levels``). Writes ``<noise>.png``,
``robustness.md`` and ``robustness.csv`` into --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.files import write_csv, write_text
from dae.jobs import load_job

HERE = Path(__file__).resolve().parent
COLUMNS = ["noise", "trained", "level", "psnr", "ssim", "acc_denoised", "noisy_psnr", "acc_noisy", "job"]


def trained_label(job, levels: dict) -> str:
    name = levels["level_name"]
    train_levels = OmegaConf.select(job.cfg, "data.train_levels")
    if train_levels:
        return f"trained on {name} in [{train_levels[0]:g}, {train_levels[1]:g}]"
    return f"trained at {name} = {levels['trained_at'][name]:g}"


def collect(jobs: list[Path]) -> dict[str, list[tuple[str, dict, Path]]]:
    """Each job's ``levels.json``, grouped by noise: ``{noise: [(label, levels, folder), ...]}``."""
    groups: dict[str, list[tuple[str, dict, Path]]] = {}
    for folder in jobs:
        path = folder / "levels.json"
        if not path.is_file():
            raise SystemExit(f"error: {path} is missing; run `python -m dae.evaluate run={folder} levels=[...]` first.")
        levels = json.loads(path.read_text())
        groups.setdefault(levels["noise"], []).append((trained_label(load_job(folder), levels), levels, folder))
    return groups


def figure(noise: str, models: list[tuple[str, dict, Path]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    level_name = models[0][1]["level_name"]
    for ax, key, noisy_key, ylabel in (
        (left, "psnr", "noisy_psnr", "test PSNR (dB)"),
        (right, "acc_denoised", "acc_noisy", "classifier M accuracy"),
    ):
        for label, levels, _ in models:
            ax.plot([r["level"] for r in levels["levels"]], [r[key] for r in levels["levels"]], marker="o", markersize=3, label=label)
        rows = models[0][1]["levels"]
        ax.plot([r["level"] for r in rows], [r[noisy_key] for r in rows], color="gray", linestyle="--", label="noisy input")
        ax.axvline(models[0][1]["trained_at"][level_name], color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel(f"{noise} {level_name}")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{noise}: denoising across noise levels (dotted: the benchmark level)", fontsize=10)
    return figures.save(fig, path)


def table(noise: str, models: list[tuple[str, dict, Path]]) -> list[str]:
    """The markdown section of one noise: its figure, then PSNR and M's accuracy per level and model."""
    level_name = models[0][1]["level_name"]
    psnr = " | ".join(f"PSNR, {label}" for label, _, _ in models)
    accuracy = " | ".join(f"M, {label}" for label, _, _ in models)
    lines = [f"## {noise}", "", f"![{noise}]({noise}.png)", "", f"| {level_name} | noisy PSNR | {psnr} | noisy M | {accuracy} |"]
    lines.append("| --- |" + " --- |" * (2 + 2 * len(models)))
    for i, first in enumerate(models[0][1]["levels"]):
        cells = [f"{first['level']:g}", f"{first['noisy_psnr']:.2f}"] + [f"{m['levels'][i]['psnr']:.2f}" for _, m, _ in models]
        cells += [f"{first['acc_noisy']:.4f}"] + [f"{m['levels'][i]['acc_denoised']:.4f}" for _, m, _ in models]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="job folders with levels.json")
    parser.add_argument("--out", type=Path, default=HERE, help="the folder for the results (default: this script's)")
    args = parser.parse_args()
    rows, lines = [], []
    for noise, models in collect(args.jobs).items():
        figure(noise, models, args.out / f"{noise}.png")
        lines += table(noise, models)
        for label, levels, folder in models:
            rows += [{"noise": noise, "trained": label, **r, "job": str(folder)} for r in levels["levels"]]
    write_csv(args.out / "robustness.csv", rows, COLUMNS)
    write_text(args.out / "robustness.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
