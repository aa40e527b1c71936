"""Classical denoisers on the autoencoder's own noisy test images: ``python -m dae.baselines``.

For each noise type (the benchmark levels, the same fixed noisy images an autoencoder is tested
on), each method in ``methods`` (identity, median, Gaussian, non-local means, total variation,
wavelet, BM3D) is tuned on validation images: its parameter grid, and jointly the threshold of a
zero-threshold step (pixels below ``t`` set to 0; MNIST's background is black, and clipped noise
leaves it grey). Each method is then scored on the test images twice, alone and followed by its
tuned zero-threshold step: PSNR and SSIM over the 28 x 28 area, classifier M's accuracy, and the
CPU time per image. ``runs=[<job or sweep folder>]`` adds autoencoders, scored on the same images.
Writes ``baselines.md``, ``baselines.csv`` and ``baselines.json`` into the output folder.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dae.classical import METHODS, check_installed, run_method, tune, zero_threshold
from dae.cli import one_line_errors, prepare_argv
from dae.data.datamodule import fixed_noise
from dae.errors import ConfigError
from dae.files import write_csv, write_json, write_text
from dae.inference import denoise
from dae.jobs import finished_jobs, load_job
from dae.loading import load_model
from dae.scoring.classifier import load_or_train
from dae.scoring.denoiser import judge

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- autoencoders


def autoencoder_jobs(runs: Sequence[str]) -> list:
    """The finished jobs in ``runs`` (job folders, or sweep folders for all their jobs)."""
    jobs = []
    for run in runs:
        for f in finished_jobs(Path(str(run)).expanduser().resolve()):
            job = load_job(f)
            jobs.append((job, load_model(job)))  # a bad folder or checkpoint fails here, before any work
    return jobs


def same_noise(a, b) -> bool:
    return a.name == b.name and a.params() == b.params()


# ----------------------------------------------------------------------------- the app

COLUMNS = ("noise", "method", "params", "threshold", "psnr", "ssim", "acc_denoised", "ms_per_image", "val_psnr")


def check(cfg: DictConfig) -> None:
    unknown = sorted(set(cfg.methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"methods: unknown {unknown}; known: {sorted(METHODS)}. Remove it with ~methods.{unknown[0]}.")
    check_installed(list(cfg.methods))
    if not cfg.noises:
        raise ConfigError("noises is empty: keep at least one noise type (e.g. the default four).")
    for key in ("n_val", "n_test", "workers"):
        if int(cfg[key]) < 1:
            raise ConfigError(f"{key}={cfg[key]} must be at least 1.")


def baselines(cfg: DictConfig, out_dir: Path) -> list[dict]:
    check(cfg)
    noises = {name: instantiate(node) for name, node in cfg.noises.items()}
    jobs = autoencoder_jobs(cfg.runs)
    datamodule = instantiate(cfg.data, noise=next(iter(noises.values())))
    datamodule.prepare_data()
    datamodule.setup()
    classifier = load_or_train(cfg.classifier, datamodule, cfg.paths.cache_dir)
    crop = (datamodule.image_size - datamodule.source.read("test_images").shape[-1]) // 2
    val_split, test_split = datamodule.images("val"), datamodule.images("test")
    val_clean, test_clean = val_split.clean[: cfg.n_val], test_split.clean[: cfg.n_test]
    labels = test_split.labels[: cfg.n_test].numpy()
    rows: list[dict] = []
    for noise_name, noise in noises.items():
        val_noisy = fixed_noise(noise, val_split.clean, "val")[: cfg.n_val]  # the very images a run validates on
        test_noisy = fixed_noise(noise, test_split.clean, "test")[: cfg.n_test]  # and tests on
        vn, vc, tn = val_noisy[:, 0].numpy(), val_clean[:, 0].numpy(), test_noisy[:, 0].numpy()
        for method, values in cfg.methods.items():
            values = OmegaConf.to_container(values) or {}
            best = tune(method, values, cfg.thresholds, vn, vc, crop, cfg.workers)
            (params, val_plain), (t_params, t, val_t) = best["plain"], best["threshold"]
            outputs: dict[str, tuple[np.ndarray, float]] = {}  # by parameters: the thresholded variant often shares them
            for label, p, threshold, val in ((method, params, 0.0, val_plain), (f"{method} + zero-threshold", t_params, t, val_t)):
                key = json.dumps(p, sort_keys=True)
                if key not in outputs:
                    outputs[key] = run_method(method, p, tn, cfg.workers)
                out, seconds = outputs[key]
                denoised = torch.from_numpy(zero_threshold(out, threshold)).unsqueeze(1)
                row = {
                    "noise": noise_name,
                    "method": label,
                    "params": json.dumps(p),
                    "threshold": threshold,
                    "ms_per_image": 1000 * seconds,
                    "val_psnr": val,
                }
                row.update(judge(denoised, test_noisy, test_clean, labels, classifier, crop))
                rows.append(row)
                log.info(
                    "%s / %s %s t=%g: PSNR %.2f dB, SSIM %.4f, M %.4f, %.2f ms/image",
                    noise_name,
                    label,
                    p,
                    threshold,
                    row["psnr"],
                    row["ssim"],
                    row["acc_denoised"],
                    row["ms_per_image"],
                )
        for job, model in jobs:
            if not same_noise(instantiate(job.cfg.noise), noise):
                continue
            model = model.cpu()
            start = time.process_time()
            denoised = denoise(model, test_noisy, precision=job.precision)
            seconds = (time.process_time() - start) / len(test_noisy)
            row = {
                "noise": noise_name,
                "method": f"autoencoder {job.folder.name}",
                "params": "",
                "threshold": 0.0,
                "ms_per_image": 1000 * seconds,
            }
            row.update(judge(denoised, test_noisy, test_clean, labels, classifier, crop))
            rows.append(row)
            log.info(
                "%s / autoencoder %s: PSNR %.2f dB, SSIM %.4f, M %.4f",
                noise_name,
                job.folder.name,
                row["psnr"],
                row["ssim"],
                row["acc_denoised"],
            )
    write_csv(out_dir / "baselines.csv", rows, COLUMNS)
    write_json(
        out_dir / "baselines.json",
        {"n_val": cfg.n_val, "n_test": len(test_clean), "noises": {k: v.params() for k, v in noises.items()}, "rows": rows},
    )
    write_text(out_dir / "baselines.md", to_markdown(rows, noises, cfg, len(test_clean)))
    return rows


def to_markdown(rows: list[dict], noises: dict, cfg: DictConfig, n_test: int) -> str:
    lines = [
        "# Classical baselines",
        "",
        f"The first {n_test} test images under each noise (the fixed noisy images every run is tested on); "
        f"parameters tuned on {cfg.n_val} validation images. PSNR and SSIM over the 28 x 28 area; "
        "`M` is classifier M's accuracy on the denoised images; time is CPU time per image.",
    ]
    for name, noise in noises.items():
        part = [r for r in rows if r["noise"] == name]
        classical = [r for r in part if not r["method"].startswith("autoencoder")]
        auto = [r for r in part if r["method"].startswith("autoencoder")]
        lines += [
            "",
            f"## {name}: {noise!r}",
            "",
            "| method | parameters | threshold | PSNR (dB) | SSIM | M | ms / image |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in part:
            lines.append(
                f"| {r['method']} | `{r['params']}` | {r['threshold']:g} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['acc_denoised']:.4f} | {r['ms_per_image']:.2f} |"
            )
        if classical and auto:
            best_c = max(classical, key=lambda r: r["psnr"])
            best_a = max(auto, key=lambda r: r["psnr"])
            lines += ["", f"Best autoencoder ({best_a['method'].split(' ', 1)[1]}) minus best classical method ({best_c['method']}): "
                      f"**{best_a['psnr'] - best_c['psnr']:+.2f} dB** PSNR, {100 * (best_a['acc_denoised'] - best_c['acc_denoised']):+.2f} points of M's accuracy."]  # fmt: skip
    return "\n".join(lines) + "\n"


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="baselines")
def main(cfg: DictConfig) -> None:
    out_dir = Path(cfg.paths.output_dir)
    with one_line_errors(out_dir):
        baselines(cfg, out_dir)
    print((out_dir / "baselines.md").read_text())


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
