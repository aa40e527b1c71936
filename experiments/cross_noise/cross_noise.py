"""Train on one noise, test on every other: PSNR and classifier M's accuracy of each trained model
on the fixed test images of each benchmark noise (conf/noise/, default levels).

    python experiments/cross_noise/cross_noise.py <job folder>... [--out experiments/cross_noise]

Each job is a finished training run (its row is named by the noise it was trained on); writes
cross_noise.csv, cross_noise.md and cross_noise.png (heat-maps) into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.files import write_csv, write_text
from dae.jobs import load_job
from dae.loading import build_datamodule, load_model
from dae.scoring.classifier import load_or_train
from dae.scoring.denoiser import on_noise

HERE = Path(__file__).resolve().parent
TEST_NOISES = ["gaussian", "salt_pepper", "speckle", "periodic"]
COLUMNS = ["trained_on", "tested_on", "psnr", "ssim", "noisy_psnr", "acc_denoised", "acc_noisy", "job"]


def benchmark_noises() -> dict:
    """The test noises at their benchmark levels, from the package's conf/noise/."""
    with initialize_config_module(version_base="1.3", config_module="dae.conf"):
        return {name: instantiate(compose("train", overrides=[f"noise={name}"]).noise) for name in TEST_NOISES}


def cross(jobs: list[Path]) -> list[dict]:
    noises = benchmark_noises()
    rows = []
    for folder in jobs:
        job = load_job(folder)
        model, datamodule = load_model(job), build_datamodule(job)
        classifier = load_or_train(job.cfg.classifier, datamodule, job.cfg.paths.cache_dir)
        trained_on = instantiate(job.cfg.noise).name
        for name, noise in noises.items():
            rows.append(
                {
                    "trained_on": trained_on,
                    "tested_on": name,
                    **on_noise(model, datamodule, noise, classifier, job.precision),
                    "job": str(folder),
                }
            )
            print(f"{trained_on:>12} -> {name:<12} PSNR {rows[-1]['psnr']:.2f} dB, M {rows[-1]['acc_denoised']:.4f}", flush=True)
    return rows


def matrix(rows: list[dict], key: str) -> tuple[list[str], np.ndarray]:
    trained = list(dict.fromkeys(r["trained_on"] for r in rows))
    values = np.array([[next(r[key] for r in rows if r["trained_on"] == t and r["tested_on"] == n) for n in TEST_NOISES] for t in trained])
    return trained, values


def to_markdown(rows: list[dict], command: str) -> str:
    lines = [f"`{command}`", ""]
    for key, title, fmt in (
        ("psnr", "Test PSNR (dB)", "{:.2f}"),
        ("acc_denoised", "Classifier M's accuracy on the denoised test images", "{:.4f}"),
    ):
        trained, values = matrix(rows, key)
        lines += [f"{title}: rows trained on, columns tested on (the diagonal is each model on its own noise).", ""]
        lines += ["| trained on \\ tested on | " + " | ".join(TEST_NOISES) + " |", "| --- |" + " --- |" * len(TEST_NOISES)]
        for t, line in zip(trained, values):
            lines.append(f"| {t} | " + " | ".join(fmt.format(v) for v in line) + " |")
        noisy_key = {"psnr": "noisy_psnr", "acc_denoised": "acc_noisy"}[key]
        noisy = [next(r[noisy_key] for r in rows if r["tested_on"] == n) for n in TEST_NOISES]
        lines += ["| (noisy input) | " + " | ".join(fmt.format(v) for v in noisy) + " |", ""]
    return "\n".join(lines)


def heatmaps(rows: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (key, title, fmt) in zip(axes, (("psnr", "test PSNR (dB)", "{:.1f}"), ("acc_denoised", "M accuracy, denoised", "{:.3f}"))):
        trained, values = matrix(rows, key)
        image = ax.imshow(values, cmap="viridis")
        ax.set_xticks(range(len(TEST_NOISES)), TEST_NOISES, rotation=20)
        ax.set_yticks(range(len(trained)), trained)
        ax.set_xlabel("tested on")
        ax.set_ylabel("trained on")
        ax.set_title(title)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(
                    j,
                    i,
                    fmt.format(values[i, j]),
                    ha="center",
                    va="center",
                    color="white" if values[i, j] < values.mean() else "black",
                    fontsize=8,
                )
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return figures.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="finished job folders, one per training noise")
    parser.add_argument("--out", type=Path, default=HERE, help="the folder for the results (default: this script's)")
    args = parser.parse_args()
    rows = cross(args.jobs)
    write_csv(args.out / "cross_noise.csv", rows, COLUMNS)
    command = "python experiments/cross_noise/cross_noise.py " + " ".join(str(j) for j in args.jobs)
    write_text(args.out / "cross_noise.md", to_markdown(rows, command))
    heatmaps(rows, args.out / "cross_noise.png")
    print((args.out / "cross_noise.md").read_text())


if __name__ == "__main__":
    main()
