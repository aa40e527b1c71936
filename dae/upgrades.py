"""Job configs written by earlier versions of dae, in the keys and class paths of this one.

A job folder outlives the code that wrote it: :func:`upgrade` rewrites a loaded config (keys and
``_target_`` paths that changed) before it is checked and built. ``tests/data/`` keeps job configs
written by earlier versions, and the tests load each of them.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def upgrade(cfg: DictConfig) -> None:
    """A job config written by an earlier dae in the keys of this version (see :func:`upgrade_v0_1` and
    :func:`upgrade_peak_lr`)."""
    upgrade_peak_lr(cfg)
    upgrade_v0_1(cfg)


def upgrade_peak_lr(cfg: DictConfig) -> None:
    """dae 0.2 and earlier set one-cycle's peak in ``scheduler.max_lr`` apart from ``model.optimizer.lr``, which
    one-cycle then ignored; now ``model.optimizer.lr`` is the peak: it takes ``max_lr``'s value, the same training."""
    scheduler, optimizer = cfg.get("scheduler"), OmegaConf.select(cfg, "model.optimizer")
    if not isinstance(scheduler, DictConfig) or not isinstance(optimizer, DictConfig) or "max_lr" not in scheduler:
        return
    if isinstance(scheduler._get_node("max_lr")._value(), (int, float)) and "lr" in optimizer:
        optimizer.lr = scheduler.max_lr
        scheduler.max_lr = "${model.optimizer.lr}"


def upgrade_v0_1(cfg: DictConfig) -> None:
    """A job config written by dae 0.1 in the keys of this version. Its LightningModule then was what
    ``GraphedDenoiser`` is now (``model.cuda_graph`` chose its CUDA-graph steps on a GPU), so a job resumes
    as it trained; the VAE's ``beta`` and ``warmup_steps`` move from ``model.net`` to its own module."""
    model = cfg.model
    if model.get("_target_") != "dae.denoiser.Denoiser" or not isinstance(model.get("net"), DictConfig):
        return
    if model.net.get("_target_") == "dae.models.VariationalAutoencoder":
        model.pop("cuda_graph", None)
        model._target_ = "dae.variational.VariationalDenoiser"
        for name in ("beta", "warmup_steps"):
            if name in model.net:
                model[name] = model.net.pop(name)
    elif "cuda_graph" in model:  # dae 0.1's Denoiser with its cuda_graph switch is GraphedDenoiser, with the same switch
        model._target_ = "dae.speedups.cuda_graphs.GraphedDenoiser"
