"""Train a denoising autoencoder: ``python -m dae.train [overrides]`` (see conf/train.yaml)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dae.files import write_json

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


def build(cfg: DictConfig):
    """Instantiate everything from the config, in the order that fails fastest on bad values."""
    noise = instantiate(cfg.noise)
    loss = instantiate(cfg.loss)
    datamodule = instantiate(cfg.data, noise=noise)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None  # scheduler=none is an empty config
    model = instantiate(cfg.model, loss=loss, scheduler=scheduler)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, model, trainer


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then validate and test the best checkpoint; write ``metrics.json`` in the job folder.

    Returns the final metrics (``val/...``, ``test/...``).
    """
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build(cfg)
    hp_metrics = ["hp/val_psnr", "hp/val_ssim", "hp/test_psnr"] + [m for cb in trainer.callbacks for m in getattr(cb, "hp_metrics", ())]
    for logger in trainer.loggers:
        logger.log_hyperparams(hyperparameters(cfg), dict.fromkeys(hp_metrics, 0.0))

    trainer.fit(model, datamodule=datamodule)

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    ckpt = "best" if best else None  # fast_dev_run saves no checkpoint: judge the weights in memory
    val = trainer.validate(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
    test = trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0]
    metrics = {k: float(v) for k, v in {**val, **test}.items() if k in FINAL_KEYS}
    metrics.update(epochs=trainer.current_epoch, best_checkpoint=best or None)

    if trainer.is_global_zero:
        out = Path(cfg.paths.output_dir)
        write_json(out / "metrics.json", metrics)
        log.info("test PSNR %.2f dB (noisy input %.2f dB), SSIM %.4f; results in %s", metrics["test/psnr"], metrics["test/noisy_psnr"], metrics["test/ssim"], out)
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = train(cfg)
    value = metrics["val/psnr"]  # the sweep objective (for Hydra's optimising sweepers)
    return value if math.isfinite(value) else float("-inf")


if __name__ == "__main__":
    main()
