"""Training a denoiser from a composed config: build everything, fit, test, write ``metrics.json``.
``python -m dae.train`` (dae/train.py) calls :func:`train`; the bench and the tests build with :func:`build`."""

from __future__ import annotations

import inspect
import logging
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from dae.callbacks import CheckpointOnInterrupt, DestroyProcessGroupAtExit, ReportCallback, TrainingClock
from dae.errors import ConfigError, JobError, first_line, integer, summary
from dae.files import write_json
from dae.jobs import load_job
from dae.sweep import in_sweep

log = logging.getLogger(__name__)

FINAL_KEYS = ("val/psnr", "val/ssim", "val/noisy_psnr", "val/loss", "test/psnr", "test/ssim", "test/noisy_psnr", "test/loss")


def hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """What the TensorBoard HPARAMS tab lists for a run: the chosen model, loss and noise
    with their parameters, and the main training knobs."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    hp: dict[str, Any] = {group: choices.get(group, "?") for group in ("model", "loss", "noise", "scheduler")}
    for group in ("loss", "noise"):
        hp.update({f"{group}.{k}": v for k, v in cfg[group].items() if not k.startswith("_")})
    hp["latent_dim"] = OmegaConf.select(cfg, "model.net.latent_dim")
    hp["lr"] = OmegaConf.select(cfg, "model.optimizer.lr")
    hp["batch_size"] = cfg.data.batch_size
    hp["max_epochs"] = cfg.trainer.max_epochs
    hp["precision"] = str(cfg.trainer.precision)
    hp["seed"] = cfg.seed
    return {k: v for k, v in hp.items() if v is not None}


def build_model(cfg: DictConfig) -> L.LightningModule:
    """The LightningModule with its loss and schedule; ``compile=true`` compiles its network in place
    (torch.compile: the same state_dict keys, so checkpoints load either way)."""
    check_learning_rate(cfg)
    loss = instantiate(cfg.loss)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None  # scheduler=none is an empty config
    model = instantiate(cfg.model, loss=loss, scheduler=scheduler)
    check_optimization(cfg, model.optimizer, scheduler)
    if cfg.get("compile"):
        if getattr(model, "cuda_graph", False):  # GraphedDenoiser (trainer=gpu): a compiled network is not replayed
            log.warning(
                "compile=true: the network is compiled, so trainer=gpu's CUDA-graph replay is off and steps run compiled; "
                "leave compile out to replay them (or set +model.cuda_graph=false to say so)."
            )
        model.net.compile()
    return model


def check_learning_rate(cfg: DictConfig) -> None:
    """``model.optimizer.lr`` is the peak learning rate under every schedule (one-cycle's ``max_lr`` follows it):
    a ``scheduler.max_lr`` set apart from it would silently replace it, so it is refused, naming the key that works."""
    peak, lr = OmegaConf.select(cfg, "scheduler.max_lr"), OmegaConf.select(cfg, "model.optimizer.lr")
    if peak is not None and lr is not None and peak != lr:
        raise ConfigError(
            f"scheduler.max_lr={peak} differs from model.optimizer.lr={lr}: the peak learning rate is model.optimizer.lr "
            f"under every schedule; set model.optimizer.lr={peak} instead (and leave scheduler.max_lr as it is)."
        )


def check_optimization(cfg: DictConfig, optimizer, scheduler) -> None:
    """Build the optimizer and the schedule once on a stand-in parameter, so that a value torch refuses
    (``model.optimizer.lr=-1``) is one line naming the settings, before any work rather than when training starts."""
    for key, factory in (("model.optimizer", optimizer), ("scheduler", scheduler)):
        if factory is None:
            continue
        try:
            built = optimizer(params=[torch.nn.Parameter(torch.zeros(1))])
            if key == "scheduler":
                takes_steps = "total_steps" in inspect.signature(getattr(factory, "func", factory)).parameters
                factory(optimizer=built, **({"total_steps": 10} if takes_steps else {}))
        except (ValueError, TypeError) as e:
            settings = {k: v for k, v in OmegaConf.to_container(OmegaConf.select(cfg, key), resolve=True).items() if not k.startswith("_")}
            shown = ", ".join(f"{key}.{k}={v}" for k, v in settings.items())
            raise ConfigError(f"{shown}: torch refuses these settings ({first_line(e)}); set {key}.<name>=<a value it accepts>.") from None


def build(cfg: DictConfig):
    """Instantiate everything from the config, in the order that fails fastest on bad values."""
    noise = instantiate(cfg.noise)
    datamodule = instantiate(cfg.data, noise=noise)
    model = build_model(cfg)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None] + [TrainingClock(), DestroyProcessGroupAtExit()]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, model, trainer


def train(cfg: DictConfig, resume_from: str | Path | None = None) -> dict[str, float]:
    """Fit (from the checkpoint ``resume_from``, if given), then validate and test the best
    checkpoint; write ``metrics.json`` in the job folder.

    Returns the final metrics (``val/...``, ``test/...``).
    """
    L.seed_everything(integer("seed", cfg.get("seed")), workers=True)
    datamodule, model, trainer = build(cfg)
    reports = [cb for cb in trainer.callbacks if isinstance(cb, ReportCallback)]
    if resume_from is None:  # a resumed run logged its hyperparameters when it started
        hp_metrics = [*getattr(model, "hp_metrics", ()), *(m for cb in reports for m in cb.hp_metrics)]
        for logger in trainer.loggers:
            logger.log_hyperparams(hyperparameters(cfg), dict.fromkeys(hp_metrics, 0.0))
    # A resumed run counts the time its checkpoint had trained for (dae.callbacks.TrainingClock) too.
    before = float(torch.load(resume_from, map_location="cpu", weights_only=True).get("train_seconds", 0.0)) if resume_from else 0.0
    with exit_status_on_signals(trainer):
        for report in reports:  # e.g. classifier M, loaded or trained before any other process is started
            report.prepare(trainer, datamodule)
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
        train_seconds = before + time.perf_counter() - start
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        ckpt = "best" if best else None  # fast_dev_run saves no checkpoint: judge the weights in memory
        val = trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
        test = trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
    metrics = {k: float(v) for k, v in {**val, **test}.items() if k in FINAL_KEYS}
    metrics.update(
        epochs=epochs_done(trainer, best),
        train_seconds=round(train_seconds, 1),
        best_checkpoint=best or None,
        precision=str(trainer.precision),
    )

    if trainer.is_global_zero:
        out = Path(cfg.paths.output_dir)
        write_json(out / "metrics.json", metrics)
        log.info(
            "test PSNR %.2f dB (noisy input %.2f dB), SSIM %.4f; results in %s",
            metrics["test/psnr"],
            metrics["test/noisy_psnr"],
            metrics["test/ssim"],
            out,
        )
    return metrics


@contextmanager
def exit_status_on_signals(trainer: L.Trainer):
    """A run stopped by SIGTERM, SIGHUP or SIGUSR1 (Lightning's ``SIGTERMException``, a ``SystemExit`` with
    status 0) exits with status 128 + the signal's number, as a process killed by it would: 143 for SIGTERM.
    dae.callbacks.CheckpointOnInterrupt has saved interrupted.ckpt by then and said how to resume."""
    try:
        yield
    except SIGTERMException:
        stoppers = [cb for cb in trainer.callbacks if isinstance(cb, CheckpointOnInterrupt) and cb.signal]
        raise SystemExit(128 + (stoppers[0].signal if stoppers else signal.SIGTERM)) from None


def epochs_done(trainer: L.Trainer, best: str) -> int:
    """Epochs trained. Under ``ddp_spawn`` the loops ran in spawned processes and the trainer here
    still counts 0 (Lightning sends back the weights, not the loop state), so the count comes from
    ``last.ckpt``, saved after the last epoch's validation with that epoch's 0-based index."""
    if trainer.current_epoch or not best:
        return trainer.current_epoch
    last = Path(best).parent / "last.ckpt"
    if not last.is_file():
        return trainer.current_epoch
    return int(torch.load(last, map_location="cpu", weights_only=True)["epoch"]) + 1


def resumable(cfg: DictConfig) -> tuple[DictConfig, Path]:
    """For ``resume=<job folder>``: the job's own saved config and its ``last.ckpt``, or a
    :class:`~dae.errors.JobError` that says what is missing, before any work."""
    if in_sweep():
        raise ConfigError(f"resume={cfg.resume} continues one job; run it without -m (one command per job to resume).")
    job = load_job(cfg.resume, key="resume", rebuilt=None)  # resuming rebuilds all of it: trainer, callbacks, logger
    checkpoint = job.folder / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise JobError(
            f"resume={job.folder} has no checkpoints/last.ckpt: the run stopped before its first epoch ended; start it again without resume."
        )
    if (job.folder / "metrics.json").is_file():
        raise JobError(f"resume={job.folder} has finished (it has metrics.json); nothing to resume. To train longer, start a new run.")
    check_checkpoint(job, checkpoint)
    return job.cfg, checkpoint


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def check_checkpoint(job, checkpoint: Path) -> None:
    """A :class:`~dae.errors.JobError` if ``checkpoint`` cannot be read (empty, cut short) or does not fit the
    job's model (another architecture's weights, an edited config), naming the file, what is wrong and the
    job's intact checkpoints: before any work, so that a refused resume adds nothing to the folder."""
    from dae.loading import fitted_model

    try:
        weights = _weights(checkpoint)
    except Exception as e:  # torch raises EOFError, RuntimeError, pickle errors... for a damaged file
        intact = []
        for other in sorted(checkpoint.parent.glob("*.ckpt")):
            if other != checkpoint:
                try:
                    _weights(other)
                    intact.append(other.name)
                except Exception:
                    pass
        what = "empty" if checkpoint.stat().st_size == 0 else f"damaged ({summary(e)})"
        fix = (
            f"its intact checkpoints: {', '.join(intact)}; to continue from one, copy it over {checkpoint.name}"
            if intact
            else "no other checkpoint of the job is intact: start the run again without resume"
        )
        raise JobError(f"resume={job.folder}: {checkpoint} is {what}; {fix}.") from None
    fix = "; the checkpoint is another run's, or the job's .hydra/config.yaml was edited since: resume with the config it was trained with"
    fitted_model(job, weights, f"resume={job.folder}: {checkpoint.name}", fix)
