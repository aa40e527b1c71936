"""SVM probe of the latent space: ``python -m dae.probe [run=<job or sweep folder>] [ckpt=<file>] [overwrite=true]``.

Probes a job (or every job of a sweep) with :mod:`dae.scoring.probe`: writes ``probe/report.json``,
``probe/report.txt`` and ``probe/latent_2d.png`` under the job folder, and to TensorBoard (an event
file in ``probe/``) the accuracies, the report and a PROJECTOR embedding; for a sweep,
``probe_summary.md`` in the sweep folder.

``probe/report.json`` records the probe's settings. A job holding a probe of other settings (a quick
``probe.n_train=10000`` after a full probe, another checkpoint) is refused before any work, unless
``overwrite=true``; for a sweep, every job is checked before any is probed. A probe of the same settings
is run again and replaced without asking: it holds the same results. A Ctrl-C stops the probe at once
and leaves the job folder as it was.
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
from dae.scoring.probe import ProbeSettings, check_replace, recorded_settings, run_probe


class LazyWriter:
    """A TensorBoard ``SummaryWriter`` into ``log_dir``, made when first used: a probe that writes nothing
    to TensorBoard (refused, failed, interrupted) leaves no empty event file. ``close(discard=True)``
    removes the event file it made."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.writer, self.before = Path(log_dir), None, set()

    def __getattr__(self, name: str):
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.before = set(self.log_dir.glob("events.out.tfevents.*"))
            self.writer = SummaryWriter(log_dir=str(self.log_dir))
        return getattr(self.writer, name)

    def close(self, discard: bool = False) -> None:
        if self.writer is None:
            return
        self.writer.close()
        if discard:
            for path in set(self.log_dir.glob("events.out.tfevents.*")) - self.before:
                path.unlink(missing_ok=True)


def probe_job(
    folder: Path, settings: ProbeSettings, ckpt: str | None = None, cache_dir: str | None = None, overwrite: bool = False
) -> dict:
    """Load a job, probe it, write its files; TensorBoard gets the accuracies, the report and the PROJECTOR
    embedding. Refused before any work if the job holds a probe of other settings and not ``overwrite``
    (:func:`~dae.scoring.probe.check_replace`). Interrupted (Ctrl-C), it writes nothing and raises a
    ``KeyboardInterrupt`` that names the job."""
    recorded = recorded_settings(settings, checkpoint_name(folder, ckpt))
    writer = LazyWriter(Path(folder) / "probe")
    try:
        job = load_job(folder)
        module = load(job, ckpt, device=_device()).module  # fails here, before any work, on a bad checkpoint
        check_replace([folder], recorded, overwrite)
        dm = build_datamodule(job)
        result = run_probe(module, dm, settings, job.folder, writer, cache_dir, recorded["ckpt"])
        to_tensorboard(writer, result, (job.folder / "probe" / "report.txt").read_text())
    except BaseException as stopped:  # failed or interrupted: no event file left behind
        writer.close(discard=True)
        if isinstance(stopped, KeyboardInterrupt):
            raise KeyboardInterrupt(f"the probe of {Path(folder).resolve()} was not written; run it again") from None
        raise
    writer.close()
    return result


def checkpoint_name(folder: Path, ckpt: str | None) -> str | None:
    """``ckpt`` as the probe's report records it: its path in the job folder (``checkpoints/last.ckpt``), or
    ``None`` for the job's best checkpoint."""
    if ckpt is None:
        return None
    path, job = Path(ckpt).expanduser().resolve(), Path(folder).expanduser().resolve()
    return path.relative_to(job).as_posix() if path.is_relative_to(job) else str(path)


def to_tensorboard(writer, result: dict, text: str) -> None:
    """The probe's accuracies and its report (as preformatted text) to ``writer``."""
    writer.add_scalar("probe/accuracy", result["accuracy"])
    if result["control_accuracy"] is not None:
        writer.add_scalar("probe/control_accuracy", result["control_accuracy"])
    writer.add_text("probe/report", "    " + text.replace("\n", "\n    "))


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def probe(cfg: DictConfig) -> dict:
    """Probe ``cfg.run`` (a job or a sweep folder), ``cfg.ckpt``, or the latest job under outputs/."""
    settings = ProbeSettings(**cfg.probe)
    overwrite = bool(cfg.get("overwrite", False))
    folder = target(cfg.run, cfg.ckpt, cfg.paths.log_dir)
    if folder.is_dir() and is_sweep(folder) and not cfg.ckpt:
        return probe_sweep(folder, settings, cfg.paths.cache_dir, overwrite)
    return probe_job(folder, settings, cfg.ckpt, cfg.paths.cache_dir, overwrite)


def probe_sweep(folder: Path, settings: ProbeSettings, cache_dir: str | None = None, overwrite: bool = False) -> dict:
    """Probe every job of a sweep; write ``probe_summary.md`` in the sweep folder. Every job is checked
    for a probe of other settings before any is probed."""
    rows, results = [], {}
    jobs = sweep_jobs(folder)
    if not jobs:
        raise ConfigError(f"run={folder} is a sweep folder without job folders; expected <sweep>/<overrides>/.hydra/config.yaml.")
    check_replace(jobs, recorded_settings(settings), overwrite)
    for job_folder in jobs:
        name = load_job(job_folder).name
        try:
            result = probe_job(job_folder, settings, cache_dir=cache_dir, overwrite=overwrite)
            results[name] = result
            control = f"{result['control_accuracy']:.4f}" if result["control_accuracy"] is not None else "-"
            rows.append(f"| `{name}` | {result['accuracy']:.4f} | {control} |")
        except (JobError, FileNotFoundError) as e:  # a job folder that cannot be probed: the others go on
            results[name] = {"error": first_line(e, limit=1000)}
            rows.append(f"| `{name}` | failed: {first_line(e)} | |")
        except KeyboardInterrupt:
            summary = folder / "probe_summary.md"
            raise KeyboardInterrupt(
                f"the probe of {job_folder} and {summary} were not written (those of the jobs before it were); run it again"
            ) from None
    header = f"# SVM probe of {folder.name}\n\n{settings.kernel} SVM on {settings.inputs} latent vectors, {settings.n_train} training vectors; control: PCA of the pixels + the same SVM.\n\n"
    table = "| job | accuracy | control |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"
    write_text(folder / "probe_summary.md", header + table)
    print(header + table)
    return results


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="probe")
def main(cfg: DictConfig) -> float | None:
    try:
        with one_line_errors(HydraConfig.get().runtime.output_dir):
            result = probe(cfg)
    except KeyboardInterrupt as stopped:  # one line, no traceback: what was not written and what to do
        said = first_line(stopped, limit=1000)
        said = "nothing was written; run it again" if said == type(stopped).__name__ else said
        raise SystemExit(f"interrupted: {said}") from None
    if "accuracy" in result:
        control = result["control_accuracy"]
        print(f"SVM probe accuracy {result['accuracy']:.4f}" + (f" (control {control:.4f})" if control is not None else ""))
        return result["accuracy"]
    return None


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
