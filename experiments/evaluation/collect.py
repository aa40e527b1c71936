"""Collect the evaluation figures of finished jobs into results.md and PNGs next to this file.

    python experiments/evaluation/collect.py <job folder> [<job folder> ...]

Reads each job's .hydra/ config, metrics.json, classifier_report.json and probe/report.json;
writes results.md (one row per job) and copies its reconstruction grid and latent picture.
"""

import json
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

HERE = Path(__file__).resolve().parent


def row(job: Path) -> tuple[str, str]:
    cfg = OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra.runtime.choices
    noise_cfg = OmegaConf.load(job / ".hydra" / "config.yaml").noise
    level = ", ".join(f"{k}={v}" for k, v in noise_cfg.items() if not k.startswith("_") and k not in ("salt_vs_pepper", "freq_min", "freq_max"))
    m = json.loads((job / "metrics.json").read_text())
    name = f"{cfg.noise}_{level.split('=')[-1]}_{m['epochs']}ep" if level else f"{cfg.noise}_{m['epochs']}ep"
    acc = {k: v["accuracy"] for k, v in json.loads((job / "classifier_report.json").read_text()).items()}
    probe = json.loads((job / "probe" / "report.json").read_text())
    cells = [
        f"`{cfg.noise}` ({level or '-'})", str(m["epochs"]), f"{m['test/noisy_psnr']:.2f}", f"{m['test/psnr']:.2f}", f"{m['test/ssim']:.4f}",
        f"{acc['clean']:.4f}", f"{acc['noisy']:.4f}", f"{acc['denoised']:.4f}", f"{acc['reconstructed']:.4f}",
        f"{probe['accuracy']:.4f}", f"{probe['control_accuracy']:.4f}",
    ]
    for src, dst in ((job / "reconstructions.png", f"{name}_reconstructions.png"), (job / "probe" / "latent_2d.png", f"{name}_latent_2d.png")):
        shutil.copyfile(src, HERE / dst)
    return name, "| " + " | ".join(cells) + " |"


def main(jobs: list[str]) -> None:
    header = (
        "| noise (level) | epochs | noisy PSNR | test PSNR | test SSIM | M clean | M noisy | M denoised | M reconstructed | SVM probe | control |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    )
    rows = [row(Path(j)) for j in jobs]
    (HERE / "results.md").write_text(header + "\n".join(r for _, r in rows) + "\n")
    print(header + "\n".join(r for _, r in rows))


if __name__ == "__main__":
    main(sys.argv[1:])
