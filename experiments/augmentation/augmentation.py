"""Denoising as data augmentation: classifier M's network and recipe trained (a) on the clean training
images, (b) with a noisy copy of each, (c) with a denoised copy of each (the noisy copy through the
autoencoder), (d) with both; each judged on the clean, noisy and denoised test images.

    python experiments/augmentation/augmentation.py <job folder>... [--out experiments/augmentation]

Each job is a finished training run: its noise makes the copies and the noisy test images, its
autoencoder the denoised ones. The copies are made once (fixed noise, 8-bit like the originals); every
variant trains for M's epochs over its whole set, so (b) and (c) take two times M's steps and (d)
three. Writes augmentation.csv, augmentation.md and augmentation.png into --out.

Each variant is trained by dae.scoring.classifier.fit, as M is, on :class:`dae.data.training_images.TrainingImages`:
a data module that serves the given training images in M's batches (the same shuffling and batch seeds as the
project's data module) and validates on the clean validation split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.data.datamodule import fixed_noise
from dae.data.training_images import TrainingImages, to_u8
from dae.files import write_csv, write_text
from dae.inference import denoise
from dae.jobs import load_job
from dae.loading import build_datamodule, load_model
from dae.scoring.classifier import fit, predict

HERE = Path(__file__).resolve().parent
VARIANTS = {"clean": (), "noisy": ("noisy",), "denoised": ("denoised",), "both": ("noisy", "denoised")}
TESTS = ("clean", "noisy", "denoised")
COLUMNS = ["noise", "trained_on", "train_images", "test_images", "train_s", *(f"acc_{t}" for t in TESTS), "job"]


def augmentation(folder: Path, trained: dict) -> list[dict]:
    """The four variants for one job; ``trained`` keeps the clean variant (network, seconds) for the next."""
    job = load_job(folder)
    model, datamodule = load_model(job), build_datamodule(job)
    cfg, noise = job.cfg.classifier, datamodule.noise
    _, clean, labels = datamodule.images("train")
    noisy = fixed_noise(noise, clean, "augmentation")  # not the probe's or the test's images
    copies = {"clean": to_u8(clean), "noisy": to_u8(noisy), "denoised": to_u8(denoise(model, noisy, precision=job.precision))}
    test = datamodule.images("test")
    tests = {"clean": test.clean, "noisy": test.noisy, "denoised": denoise(model, test.noisy, precision=job.precision)}
    val, rows, labels_test = datamodule.images("val"), [], test.labels.numpy()
    for variant, extra in VARIANTS.items():
        parts = ("clean", *extra)
        data = TrainingImages(torch.cat([copies[p] for p in parts]), labels.repeat(len(parts)), val, cfg.batch_size, cfg.seed)
        if variant == "clean" and "clean" in trained:  # the same for every noise: trained once
            net, seconds = trained["clean"]
        else:
            start = time.perf_counter()
            net, seconds = fit(cfg, data), round(time.perf_counter() - start, 1)
            if variant == "clean":
                trained["clean"] = net, seconds
        accuracies = {f"acc_{t}": float((predict(net, images) == labels_test).mean()) for t, images in tests.items()}
        rows.append(
            {
                "noise": noise.name,
                "trained_on": variant,
                "train_images": len(data.train_labels),
                "test_images": len(labels_test),
                "train_s": seconds,
                **accuracies,
                "job": str(folder),
            }
        )
        print(f"{noise.name:>12} {variant:>9}: " + ", ".join(f"{t} {accuracies[f'acc_{t}']:.4f}" for t in TESTS), flush=True)
    return rows


def to_markdown(rows: list[dict], command: str, n_test: int) -> str:
    lines = [
        f"`{command}`",
        "",
        f"Accuracy on the {n_test:,} test images: clean, with the job's fixed noise, and that noise through its autoencoder.",
        "",
    ]
    lines += ["| noise | trained on | training images | train s | acc clean | acc noisy | acc denoised |", "| --- |" + " --- |" * 6]
    for r in rows:
        lines.append(
            f"| {r['noise']} | {r['trained_on']} | {r['train_images']:,} | {r['train_s']:.0f} | "
            + " | ".join(f"{r[f'acc_{t}']:.4f}" for t in TESTS)
            + " |"
        )
    return "\n".join(lines) + "\n"


def bars(rows: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    noises = list(dict.fromkeys(r["noise"] for r in rows))
    fig, axes = plt.subplots(1, len(noises), figsize=(3.6 * len(noises), 3.8), sharey=True, squeeze=False)
    width = 0.8 / len(VARIANTS)
    for ax, noise in zip(axes[0], noises):
        for i, variant in enumerate(VARIANTS):
            row = next(r for r in rows if r["noise"] == noise and r["trained_on"] == variant)
            ax.bar(
                [j + (i - 1.5) * width for j in range(len(TESTS))],
                [100 * (1 - row[f"acc_{t}"]) for t in TESTS],
                width,
                label=f"trained on {variant}",
            )
        ax.set_xticks(range(len(TESTS)), [f"{t} test" for t in TESTS])
        ax.set_title(noise)
        ax.set_yscale("log")  # errors of 90% (M on noise it never saw) and of 1% in one picture
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("test error (%), log scale")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=len(VARIANTS), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return figures.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="finished job folders, one per noise")
    parser.add_argument("--out", type=Path, default=HERE, help="the folder for the results (default: this script's)")
    args = parser.parse_args()
    trained: dict = {}
    rows = [row for job in args.jobs for row in augmentation(job, trained)]
    write_csv(args.out / "augmentation.csv", rows, COLUMNS)
    command = "python experiments/augmentation/augmentation.py " + " ".join(str(j) for j in args.jobs)
    write_text(args.out / "augmentation.md", to_markdown(rows, command, rows[0]["test_images"]))
    bars(rows, args.out / "augmentation.png")
    print((args.out / "augmentation.md").read_text())


if __name__ == "__main__":
    main()
