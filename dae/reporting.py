"""A sweep's report: one row per job (its overrides, ``metrics.json``, ``classifier_report.json``, ``probe/report.json``
if the probe ran, and its TensorBoard scalars), as ``report.md`` and ``report.csv``, with ``loss_curves.png``
(validation loss per epoch, one line per job) and ``reconstructions.png`` (originals, noisy inputs, then one row
per job). A job that failed is listed as failed, with the first line of its error; one whose files cannot be read
as unreadable, naming the file. Where the sweep is a grid (Hydra's basic sweeper), a job of it without a job folder is
listed as missing, named by its swept overrides; a search (Optuna) draws its trials, so only its job folders are listed.
``python -m dae.report`` writes it; the studies build their tables on :func:`job_row`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dae import figures
from dae.config import job_dirname
from dae.errors import JobError, first_line, summary
from dae.files import write_csv, write_text
from dae.inference import denoise
from dae.jobs import Job, is_sweep, load_job, read_json, sweep_jobs
from dae.loading import build_datamodule, load_model
from dae.sweep import ERROR_FILE

log = logging.getLogger(__name__)

COLUMNS = (
    "job", "status", "test_psnr", "test_ssim", "noisy_psnr", "acc_clean", "acc_noisy", "acc_denoised",
    "acc_reconstructed", "probe_acc", "probe_control", "parameters", "epochs", "train_seconds", "error",
)  # fmt: skip
BASIC_SWEEPER = f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"  # hydra.sweeper._target_ of a grid sweep
GONE = "its folder is gone or was never made"


def first_error_line(folder: Path) -> str:
    """The first line of a failed job's error: ``error.txt`` if it wrote one, else the last
    ERROR line of its log, else that it stopped without metrics."""
    error = folder / ERROR_FILE
    if error.is_file():
        lines = [line for line in error.read_text().splitlines() if line.strip()]
        if lines:
            return lines[0]
    for log_file in folder.glob("*.log"):
        errors = [line for line in log_file.read_text(errors="replace").splitlines() if "[ERROR]" in line]
        if errors:
            return errors[-1].split("] - ", 1)[-1]
    return "no metrics.json: the job stopped before it finished"


def validation_losses(folder: Path) -> list[float]:
    """``val/loss`` per epoch, from the job's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    if "val/loss" not in events.Tags().get("scalars", []):
        return []
    values = [e.value for e in sorted(events.Scalars("val/loss"), key=lambda e: e.wall_time)]
    epochs = read_json(folder / "metrics.json").get("epochs")
    return values[:epochs] if epochs else values  # after them: the final validation of the best checkpoint


def parameters(job: Job) -> int:
    """The trainable parameters of the job's network, counted on the network its config builds."""
    net = instantiate(job.cfg.model.net)
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def job_row(folder: Path) -> dict:
    """One row of the report: what the job's files say. A job that stopped without ``metrics.json`` is
    ``failed``; one whose files cannot be read (or whose config names code it may not) ``unreadable``,
    with the reason in ``error``."""
    return _row_and_job(folder)[0]


def _row_and_job(folder: Path) -> tuple[dict, Job | None]:
    """:func:`job_row`, and the loaded job where the row is ``ok`` (None otherwise)."""
    row: dict = {"job": folder.name}  # the folder is named by the overrides
    try:
        metrics = read_json(folder / "metrics.json")
        if not metrics:
            return {**row, "status": "failed", "error": first_error_line(folder)}, None
        job = load_job(folder)
        accuracies = read_json(folder / "classifier_report.json")
        probe = read_json(folder / "probe" / "report.json")
        size = parameters(job)
    except JobError as e:
        return {**row, "status": "unreadable", "error": first_line(e, limit=1000)}, None
    except InstantiationException as e:  # a network its config cannot build
        return {
            **row,
            "status": "unreadable",
            "error": f"{folder / '.hydra' / 'config.yaml'}: model.net cannot be built ({first_line(e)})",
        }, None
    row.update(
        status="ok",
        test_psnr=metrics.get("test/psnr"),
        test_ssim=metrics.get("test/ssim"),
        noisy_psnr=metrics.get("test/noisy_psnr"),
        parameters=size,
        epochs=metrics.get("epochs"),
        train_seconds=metrics.get("train_seconds"),
        probe_acc=probe.get("accuracy"),
        probe_control=probe.get("control_accuracy"),
        **{f"acc_{name}": accuracies.get(name, {}).get("accuracy") for name in ("clean", "noisy", "denoised", "reconstructed")},
    )
    return row, job


def sweep_grid(folder: Path) -> list[list[str]] | None:
    """The overrides of each job of the sweep in ``folder``, in sweep order, as Hydra's basic sweeper expands its
    ``multirun.yaml`` (``hydra.sweeper.params``, then ``hydra.overrides.task``: their cartesian product). None where
    that cannot be known: another sweeper (an Optuna search draws its trials), or overrides not expandable here."""
    path = folder / "multirun.yaml"
    try:
        saved = yaml.safe_load(path.read_text())  # not OmegaConf: the overrides are kept as typed, ${...} included
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        log.warning("%s cannot be read (%s): the report lists the job folders there are", path, summary(e))
        return None
    hydra = saved.get("hydra") if isinstance(saved, dict) else None
    sweeper = hydra.get("sweeper") if isinstance(hydra, dict) else None
    task = (hydra.get("overrides") or {}).get("task") if isinstance(hydra, dict) else None
    if not isinstance(sweeper, dict) or sweeper.get("_target_") != BASIC_SWEEPER or not isinstance(task, list):
        return None
    params = sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()] if isinstance(params, dict) else []
    try:
        overrides = OverridesParser.create().parse_overrides([*arguments, *map(str, task)])
        return BasicSweeper.split_arguments(overrides, max_batch_size=None)[0]
    except HydraException as e:  # e.g. glob() over a config group, which needs the configs the sweep ran with
        log.warning("%s: the sweep's jobs cannot be listed (%s); the report lists the job folders there are", path, first_line(e))
        return None


def saved_overrides(folder: Path) -> list[str] | None:
    """A job folder's ``.hydra/overrides.yaml``; None if it cannot be read."""
    try:
        content = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return [str(o) for o in content] if isinstance(content, list) else None


def missing_rows(folder: Path, job_folders: list[Path]) -> list[dict]:
    """A ``missing`` row for each job of the sweep's grid (:func:`sweep_grid`) that no job folder holds (by its
    ``.hydra/overrides.yaml``, else by its folder's name), named by the overrides that vary across the sweep."""
    grid = sweep_grid(folder)
    if not grid:
        return []
    present = {frozenset(o) for o in map(saved_overrides, job_folders) if o is not None}
    names = {f.name for f in job_folders}
    swept = [i for i in range(len(grid[0])) if len({job[i] for job in grid}) > 1]
    rows = []
    for job in grid:
        if frozenset(job) in present or job_dirname(job) in names:
            continue
        where = folder / job_dirname(job)
        reason = f"{where} is not a job folder (no .hydra/config.yaml)" if where.is_dir() else GONE
        rows.append({"job": ",".join(job[i] for i in swept) or job_dirname(job), "status": "missing", "error": reason})
    return rows


def missing_summary(rows: list[dict], folder: Path) -> str | None:
    """One line naming the sweep's missing jobs, with the command that runs them; None if none is."""
    missing = [r for r in rows if r["status"] == "missing"]
    if not missing:
        return None
    gone = [r for r in missing if r["error"] == GONE]
    names = ", ".join(r["job"] for r in missing)
    line = f"{len(missing)} of {len(rows)} jobs missing: {names}"
    if len(gone) == len(missing):
        them = "it" if len(missing) == 1 else "them"
        where = "its folder is" if len(missing) == 1 else "their folders are"
        return f"{line} ({where} gone or never made; `python -m dae.train -m resume={shown(folder)}` runs {them})"
    return f"{line} (" + "; ".join(f"{r['job']}: {r['error']}" for r in missing) + ")"


def reconstructions(jobs: list[Job], path: Path, title: str) -> Path | None:
    """The original study's figure, one column per digit (the first test image of each): the originals, then
    for each noise of the sweep its noisy inputs followed by the reconstructions of every job
    trained on it (jobs grouped by noise, in sweep order)."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(json.dumps(OmegaConf.to_container(job.cfg.noise), sort_keys=True), []).append(job)
    rows: list[tuple[str, torch.Tensor]] = []
    for group in groups.values():
        noisy_row = None
        for job in group:
            try:
                model = load_model(job)
            except JobError as e:
                log.warning("%s: no reconstructions (%s)", job.folder.name, first_line(e))
                continue
            if noisy_row is None:
                noisy, clean = build_datamodule(job).digit_examples("test")
                if not rows:
                    rows.append(("original", clean))
                noisy_row = ("noisy" if len(groups) == 1 else f"noisy: {instantiate(job.cfg.noise)!r}", noisy)
                rows.append(noisy_row)
            rows.append((job.folder.name, denoise(model, noisy, precision=job.precision)))
    if not rows:
        return None
    return figures.digit_grid(rows, path, title=title, dpi=100 if len(rows) <= 10 else 70)  # a large sweep's figure stays under 500 KB


def _cell(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def shown(folder: Path) -> str:
    """``folder`` relative to the working directory when it lies under it (commands to copy), else absolute."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def to_markdown(folder: Path, rows: list[dict], figures_written: list[str], out: Path | None = None) -> str:
    head = "| job | test PSNR | SSIM | noisy PSNR | acc clean | acc noisy | acc denoised | acc reconstructed | probe | parameters | epochs | train s |"
    command = f"python -m dae.report {shown(folder)}" + (f" --out {shown(out)}" if out is not None and out != folder else "")
    lines = [f"# Sweep report: {folder.name}", "", f"`{command}`", ""]
    missing = missing_summary(rows, folder)
    lines += [missing + ".", ""] if missing else []
    lines += [head, "|" + " --- |" * 12]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| `{r['job']}` | {r['status']}: {r['error']} |" + " |" * 10)
            continue
        cells = [_cell(r["test_psnr"], 2), _cell(r["test_ssim"]), _cell(r["noisy_psnr"], 2)]
        cells += [_cell(r[f"acc_{n}"]) for n in ("clean", "noisy", "denoised", "reconstructed")]
        cells += [_cell(r["probe_acc"]), f"{r['parameters']:,}", _cell(r["epochs"]), _cell(r["train_seconds"], 0)]
        lines.append(f"| `{r['job']}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"![{name}]({name})" for name in figures_written]
    return "\n".join(lines) + "\n"


def report(folder: str | Path, out: str | Path | None = None) -> list[dict]:
    """Write the sweep's report files into ``out`` (default: the sweep folder); return its rows."""
    folder = Path(folder).expanduser().resolve()
    out = Path(out).expanduser().resolve() if out is not None else folder
    if not folder.is_dir() or not is_sweep(folder):
        raise JobError(
            f"{folder} is not a sweep folder (no multirun.yaml); pass a folder written by `python -m dae.train ... -m`, such as outputs/multirun/<time>."
        )
    job_folders = sweep_jobs(folder)
    missing = missing_rows(folder, job_folders)
    if not job_folders:
        gone = f" (all {len(missing)} of its jobs are missing: {', '.join(r['job'] for r in missing)})" if missing else ""
        raise JobError(f"{folder} is a sweep folder without job folders{gone}; expected <sweep>/<overrides>/.hydra/config.yaml.")
    rows, jobs = zip(*(_row_and_job(f) for f in job_folders))
    rows = list(rows)
    written = []
    curves = {r["job"]: validation_losses(f) for r, f in zip(rows, job_folders) if r["status"] == "ok"}
    curves = {name: (list(range(1, len(v) + 1)), v) for name, v in curves.items() if v}
    if curves:
        figures.curves(curves, out / "loss_curves.png", xlabel="epoch", ylabel="validation loss", title=folder.name)
        written.append("loss_curves.png")
    finished = [job for job in jobs if job is not None]
    if finished and reconstructions(finished, out / "reconstructions.png", title=folder.name):
        written.append("reconstructions.png")
    rows += missing
    write_csv(out / "report.csv", rows, COLUMNS)
    write_text(out / "report.md", to_markdown(folder, rows, written, out))
    return rows
