"""Robustness to corruptions no model trained on: ``python -m dae.corruptions run=<job or sweep folder> [suite=mnist_c]``.

Scores a trained denoiser (or every finished job of a sweep) on a corruption suite (:mod:`dae.suites`, MNIST-C's
fifteen corruptions by default) applied to the 10,000 test digits: classifier M's accuracy on the corrupted digits
and after the denoiser, PSNR and SSIM where the digit stays in place, and, on the same digits, the best classical
denoiser and M trained with noisy copies (:mod:`dae.scoring.corruptions`). Writes ``corruptions.md``, ``.csv``,
``.json`` and ``.png`` into the job's ``corruptions/`` (``corruptions_<suite>/`` for another suite), and the table
and figure to TensorBoard; for a sweep, ``corruptions_summary.md`` in the sweep folder.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dae.classical import check_installed
from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError
from dae.files import write_text
from dae.jobs import finished_jobs, load_job, target
from dae.loading import build_datamodule, from_job
from dae.scoring import corruptions as scoring
from dae.scoring.classifier import cache_key, load_or_train
from dae.suites import MnistC, Suite
from dae.suites.cache import suite_images

log = logging.getLogger(__name__)


def output_folder(job_folder: Path, suite: Suite) -> Path:
    return job_folder / ("corruptions" if suite.name == MnistC.name else f"corruptions_{suite.name}")


def check(cfg: DictConfig, suite: Suite) -> None:
    methods = list(cfg.classical.methods or {})
    check_installed(methods)
    if "canny_edges" in suite.names and importlib.util.find_spec("skimage") is None:
        raise ConfigError(
            'suite mnist_c\'s canny_edges needs scikit-image, which the base install leaves out: pip install -e ".[baselines]"; '
            "or leave it out with suite.corruptions=[...]."
        )
    if int(cfg.n_val) < 1:
        raise ConfigError(f"n_val={cfg.n_val} must be at least 1 (validation digits on which classical denoisers are tuned).")


def corruptions(cfg: DictConfig) -> dict:
    """Score ``cfg.run`` (a job, or every finished job of a sweep) on ``cfg.suite``; return the results by job folder."""
    suite = instantiate(cfg.suite)
    check(cfg, suite)
    folder = target(cfg.run, None, cfg.paths.log_dir)
    folders = finished_jobs(folder)
    if not folders:
        raise ConfigError(f"run={folder} is a sweep without a finished job (none has metrics.json); train it first.")
    jobs = [load_job(f) for f in folders]
    models = [from_job(job) for job in jobs]  # a bad folder or checkpoint fails here, before any work
    datamodule = build_datamodule(jobs[0])
    digit_size = datamodule.source.read("test_images").shape[-1]
    for job, model in zip(jobs, models):
        if model.digit_size != digit_size:
            raise ConfigError(
                f"run={job.folder}: its model takes {model.digit_size} x {model.digit_size} digits "
                f"(data.image_size={job.cfg.data.image_size}), the suite's are {digit_size} x {digit_size}: "
                "score a model trained at the dataset's own size (data.image_size=32)."
            )
    images = suite_images(suite, datamodule, int(cfg.n_val), cfg.paths.cache_dir)
    classifier_cfg = jobs[0].cfg.classifier
    augment = instantiate(cfg.augment) if cfg.get("augment") else None
    judges = scoring.Judges(
        load_or_train(classifier_cfg, datamodule, cfg.paths.cache_dir),
        load_or_train(classifier_cfg, datamodule, cfg.paths.cache_dir, augment=augment) if augment is not None else None,
        (datamodule.image_size - digit_size) // 2,
    )
    settings = scoring.ClassicalSettings(
        OmegaConf.to_container(cfg.classical.methods), list(cfg.classical.thresholds), int(cfg.classical.workers)
    )
    ds = datamodule
    key = scoring.references_key(
        suite.identity(),
        ds.source.checksums(),
        [ds.val_size, ds.split_seed, int(cfg.n_val)],
        cache_key(classifier_cfg, ds.source, ds.val_size, ds.split_seed, ds.image_size),
        cache_key(classifier_cfg, ds.source, ds.val_size, ds.split_seed, ds.image_size, augment) if augment is not None else None,
        OmegaConf.to_container(cfg.classical),
    )
    refs = scoring.references(images, judges, settings, Path(cfg.paths.cache_dir) / "suites", key)
    results = {}
    for job, model in zip(jobs, models):
        results[str(job.folder)] = score_job(job, model, images, judges, refs, suite)
    if len(jobs) > 1:
        write_text(folder / "corruptions_summary.md", summary_table(folder, results, suite))
    return results


def score_job(job, model, images, judges, refs, suite: Suite) -> dict:
    from torch.utils.tensorboard import SummaryWriter

    start = time.perf_counter()
    rows = scoring.score(model.denoise_batch, images, judges, refs)
    seconds = time.perf_counter() - start
    summary = scoring.headline(rows)
    out = output_folder(job.folder, suite)
    title = job.name
    writer = SummaryWriter(log_dir=str(out))
    try:
        text = scoring.write(rows, summary, out, title, suite.name, seconds, writer)
        figure = scoring.examples_figure(images, model.denoise_batch, out / "corruptions.png", f"{title}: {suite.name}")
        writer.add_image(f"corruptions/{suite.name}", _png(figure), dataformats="HWC")
    finally:
        writer.close()
    print(text, flush=True)
    log.info("corruptions written to %s (scored in %.0f s)", out, seconds)
    return {"summary": summary, "seconds": seconds, "rows": rows}


def _png(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def summary_table(folder: Path, results: dict, suite: Suite) -> str:
    lines = [
        f"# Corruption suite {suite.name} on {folder.name}",
        "",
        "| job | mean M corrupted | mean M denoised | worst corruption | M clean change (points) | harmed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for job, result in results.items():
        s = result["summary"]
        worst = f"{s['worst']['corruption']} {s['worst']['acc_denoised']:.4f}"
        lines.append(
            f"| `{Path(job).name}` | {s['mean']['acc_corrupted']:.4f} | {s['mean']['acc_denoised']:.4f} | {worst} | "
            f"{s['clean_change']:+.2f} | {', '.join(s['harmed']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="corruptions")
def main(cfg: DictConfig) -> float | None:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        results = corruptions(cfg)
    if len(results) == 1:
        return next(iter(results.values()))["summary"]["mean"]["acc_denoised"]
    return None


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
