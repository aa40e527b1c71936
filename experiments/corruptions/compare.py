"""The corruption study's tables and figure: jobs already scored by ``python -m dae.corruptions`` side by side,
and the blind job against each benchmark noise's specialist.

    python experiments/corruptions/compare.py --jobs <job>... --blind <job> --specialists <job>... [--out experiments/corruptions]

``--jobs``: job folders holding ``corruptions/corruptions.json`` (the default model, the blind one, ...), the
first one's references (M on the raw digits, M with noisy copies, the classical denoisers) shown once.
``--blind``: the blind job, scored here on each benchmark noise's fixed test images; ``--specialists``: one job
per benchmark noise (gaussian, salt_pepper, speckle, periodic), trained on it. Writes corruptions.md,
corruptions.csv and corruptions.png into --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from hydra.utils import instantiate

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.files import write_csv, write_text
from dae.jobs import load_job
from dae.loading import build_datamodule, load_model
from dae.scoring.classifier import load_or_train
from dae.scoring.denoiser import on_noise

HERE = Path(__file__).resolve().parent
READERS = (
    ("acc_corrupted", "M on the corrupted digits"),
    ("acc_augmented", "M trained with noisy copies"),
    ("acc_classical", "best classical + M"),
)


def scored(folder: Path) -> dict:
    return json.loads((folder / "corruptions" / "corruptions.json").read_text())


def side_by_side(jobs: list[Path]) -> tuple[list[dict], list[str]]:
    """One row per corruption: the references of the first job, then M after each job's denoiser."""
    results = {folder.name: scored(folder) for folder in jobs}
    first = next(iter(results.values()))
    rows = []
    for i, ref in enumerate(first["rows"]):
        row = {"corruption": ref["corruption"], "moves": ref["moves"], **{k: ref.get(k) for k, _ in READERS}}
        for name, result in results.items():
            mine = result["rows"][i]
            assert mine["corruption"] == ref["corruption"], f"{name} was scored on another suite"
            row[f"{name}/acc_denoised"] = mine["acc_denoised"]
            row[f"{name}/change"] = mine["change"]
            row[f"{name}/psnr"] = mine.get("psnr")
        rows.append(row)
    return rows, list(results)


def specialists(blind: Path, others: list[Path]) -> list[dict]:
    """Test PSNR and M of the blind job on each specialist's noise (the same fixed test images) and of the specialist."""
    job = load_job(blind)
    model, datamodule = load_model(job), build_datamodule(job)
    classifier = load_or_train(job.cfg.classifier, datamodule, job.cfg.paths.cache_dir)
    rows = []
    for folder in others:
        specialist = load_job(folder)
        noise = instantiate(specialist.cfg.noise)
        metrics = json.loads((folder / "metrics.json").read_text())
        report = json.loads((folder / "classifier_report.json").read_text())
        mine = on_noise(model, datamodule, noise, classifier, job.precision)
        rows.append(
            {
                "noise": noise.name,
                "specialist_psnr": metrics["test/psnr"],
                "blind_psnr": mine["psnr"],
                "gap_db": mine["psnr"] - metrics["test/psnr"],
                "specialist_acc": report["denoised"]["accuracy"],
                "blind_acc": mine["acc_denoised"],
            }
        )
        print(f"{noise.name:>12}: specialist {metrics['test/psnr']:.2f} dB, blind {mine['psnr']:.2f} dB", flush=True)
    return rows


def _f(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def to_markdown(rows: list[dict], names: list[str], special: list[dict], command: str) -> str:
    head = ["corruption", *(title for _, title in READERS), *(f"{n}: M denoised (change)" for n in names)]
    lines = [f"`{command}`", "", "| " + " | ".join(head) + " |", "| --- " * len(head) + "|"]
    for r in rows:
        cells = [r["corruption"] + (" (moves)" if r["moves"] else "")]
        cells += [_f(r.get(key)) for key, _ in READERS]
        cells += [f"{r[f'{n}/acc_denoised']:.4f} ({r[f'{n}/change']:+.2f})" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    suite = [r for r in rows if r["corruption"] != "clean"]
    means = [_f(float(np.mean([r.get(k) if r.get(k) is not None else r["acc_corrupted"] for r in suite]))) for k, _ in READERS]
    means += [f"**{np.mean([r[f'{n}/acc_denoised'] for r in suite]):.4f}**" for n in names]
    lines.append("| mean over the suite | " + " | ".join(means) + " |")
    if special:
        lines += [
            "",
            "The blind job on each benchmark noise's fixed test images, against the specialist trained on that noise:",
            "",
            "| noise | specialist PSNR | blind PSNR | blind - specialist (dB) | specialist M | blind M |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for s in special:
            lines.append(
                f"| {s['noise']} | {s['specialist_psnr']:.2f} | {s['blind_psnr']:.2f} | {s['gap_db']:+.2f} | {s['specialist_acc']:.4f} | {s['blind_acc']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def bars(rows: list[dict], names: list[str], path: Path) -> Path:
    import matplotlib.pyplot as plt

    labels = [r["corruption"].replace("_", " ") for r in rows]
    series = [(title, [r.get(key) if r.get(key) is not None else r["acc_corrupted"] for r in rows]) for key, title in READERS]
    series += [(f"M after {n}", [r[f"{n}/acc_denoised"] for r in rows]) for n in names]
    fig, ax = plt.subplots(figsize=(14, 4.2))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        ax.bar(np.arange(len(rows)) + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right")
    ax.set_ylabel("classifier M accuracy")
    ax.set_ylim(0, 1)
    ax.axhline(0.98, color="gray", linestyle=":", linewidth=1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(series), loc="lower left")
    return figures.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=Path, nargs="+", required=True)
    parser.add_argument("--blind", type=Path)
    parser.add_argument("--specialists", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    rows, names = side_by_side(args.jobs)
    special = specialists(args.blind, args.specialists) if args.blind and args.specialists else []
    command = "python experiments/corruptions/compare.py " + " ".join(sys.argv[1:])
    write_text(args.out / "corruptions.md", to_markdown(rows, names, special, command))
    write_csv(args.out / "corruptions.csv", rows, list(rows[0]))
    if special:
        write_csv(args.out / "specialists.csv", special, list(special[0]))
    bars(rows, names, args.out / "corruptions.png")
    print((args.out / "corruptions.md").read_text())


if __name__ == "__main__":
    main()
