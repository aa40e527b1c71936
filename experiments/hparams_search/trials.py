"""The trials of a search (``python -m dae.train hparams_search=optuna``), in the order they ran: each one's
searched settings, val/psnr (the objective) and test figures, as a table (trials.md) and a figure of the
objective against the trial (trials.png), beside the best so far.

    python experiments/hparams_search/trials.py outputs/multirun/<search folder> [experiments/hparams_search]
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from dae import figures
from dae.jobs import read_json, sweep_jobs
from dae.reporting import job_row

SEARCHED = ("model.optimizer.lr", "model.net.latent_dim", "data.batch_size", "loss", "scheduler", "search.train_level_low")


def trials(folder: Path) -> list[dict]:
    """One row per finished trial, in the order the trials started (their .hydra/ files' times)."""
    rows = []
    for job in sorted(sweep_jobs(folder), key=lambda p: (p / ".hydra" / "config.yaml").stat().st_mtime):
        metrics = read_json(job / "metrics.json")
        if not metrics:
            continue
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) if "=" in o)
        row = job_row(job)
        rows.append({**{k: overrides.get(k, "") for k in SEARCHED}, "val_psnr": metrics["val/psnr"], **row})
    return rows


def main(argv: list[str]) -> None:
    folder = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else folder
    rows = trials(folder)
    header = "| trial | lr | latent | batch | loss | schedule | train levels from | val PSNR | test PSNR | SSIM | M denoised |"
    lines = [header, "|" + " --- |" * 11]
    for i, r in enumerate(rows):
        lr = float(r["model.optimizer.lr"])
        low = float(r["search.train_level_low"])
        lines.append(
            f"| {i} | {lr:.5f} | {r['model.net.latent_dim']} | {r['data.batch_size']} | {r['loss']} | {r['scheduler']} | {low:.3f} | "
            f"{r['val_psnr']:.3f} | {r['test_psnr']:.2f} | {r['test_ssim']:.4f} | {r['acc_denoised']:.4f} |"
        )
    (out / "trials.md").write_text("\n".join(lines) + "\n")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = [r["val_psnr"] for r in rows]
    best = [max(values[: i + 1]) for i in range(len(values))]
    ax.plot(range(len(values)), values, "o", label="trial")
    ax.plot(range(len(values)), best, "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("val PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    figures.save(fig, out / "trials.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
