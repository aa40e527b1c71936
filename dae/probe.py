"""SVM probe of the latent space: ``python -m dae.probe [run=<job or sweep folder>] [ckpt=<file>]``.

Probes a job (or every job of a sweep) with :mod:`dae.scoring.probe`: writes ``probe/report.json``,
``probe/report.txt`` and ``probe/latent_2d.png`` under the job folder, and a PROJECTOR embedding to
TensorBoard; for a sweep, ``probe_summary.md`` in the sweep folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError, JobError, first_line
from dae.files import write_text
from dae.jobs import is_sweep, load_job, sweep_jobs, target
from dae.loading import build_datamodule, load
from dae.scoring.probe import ProbeSettings, run_probe


def probe_job(folder: Path, settings: ProbeSettings, ckpt: str | None = None, cache_dir: str | None = None) -> dict:
    """Load a job, probe it, write its files; TensorBoard's PROJECTOR gets the embedding."""
    from torch.utils.tensorboard import SummaryWriter

    job = load_job(folder)
    module = load(job, ckpt, device=_device()).module  # fails here, before any work, on a bad checkpoint
    dm = build_datamodule(job)
    writer = SummaryWriter(log_dir=str(job.folder / "probe"))
    try:
        return run_probe(module, dm, settings, job.folder, writer, cache_dir)
    finally:
        writer.close()


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def probe(cfg: DictConfig) -> dict:
    """Probe ``cfg.run`` (a job or a sweep folder), ``cfg.ckpt``, or the latest job under outputs/."""
    settings = ProbeSettings(**cfg.probe)
    folder = target(cfg.run, cfg.ckpt, cfg.paths.log_dir)
    if folder.is_dir() and is_sweep(folder) and not cfg.ckpt:
        return probe_sweep(folder, settings, cfg.paths.cache_dir)
    return probe_job(folder, settings, cfg.ckpt, cfg.paths.cache_dir)


def probe_sweep(folder: Path, settings: ProbeSettings, cache_dir: str | None = None) -> dict:
    """Probe every job of a sweep; write ``probe_summary.md`` in the sweep folder."""
    rows, results = [], {}
    jobs = sweep_jobs(folder)
    if not jobs:
        raise ConfigError(f"run={folder} is a sweep folder without job folders; expected <sweep>/<overrides>/.hydra/config.yaml.")
    for job_folder in jobs:
        name = load_job(job_folder).name
        try:
            result = probe_job(job_folder, settings, cache_dir=cache_dir)
            results[name] = result
            control = f"{result['control_accuracy']:.4f}" if result["control_accuracy"] is not None else "-"
            rows.append(f"| `{name}` | {result['accuracy']:.4f} | {control} |")
        except (JobError, FileNotFoundError) as e:  # a job folder that cannot be probed: the others go on
            results[name] = {"error": first_line(e, limit=1000)}
            rows.append(f"| `{name}` | failed: {first_line(e)} | |")
    header = f"# SVM probe of {folder.name}\n\n{settings.kernel} SVM on {settings.inputs} latent vectors, {settings.n_train} training vectors; control: PCA of the pixels + the same SVM.\n\n"
    table = "| job | accuracy | control |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"
    write_text(folder / "probe_summary.md", header + table)
    print(header + table)
    return results


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="probe")
def main(cfg: DictConfig) -> float | None:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        result = probe(cfg)
    if "accuracy" in result:
        control = result["control_accuracy"]
        print(f"SVM probe accuracy {result['accuracy']:.4f}" + (f" (control {control:.4f})" if control is not None else ""))
        return result["accuracy"]
    return None


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
