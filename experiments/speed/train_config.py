"""The training config as ``python -m dae.train`` composes it (from the package's ``dae.conf``), for the
speed scripts in this folder. They run from any directory; Python finds this module beside them:

    python experiments/speed/train_config.py [overrides]   # print the composed config

``NO_CALLBACKS`` is the list of overrides that leaves only the training loop, for the bench too:

    python -m dae.bench $(python experiments/speed/train_config.py --no-callbacks) bench.modes=[bare,project]
"""

from __future__ import annotations

import sys
import tempfile

# Overrides that leave only the training loop: no callbacks, logger, checkpoints, progress bar or summary.
NO_CALLBACKS = [
    "callbacks.progress_bar=null",
    "callbacks.reconstruction_grid=null",
    "callbacks.loss_curves=null",
    "callbacks.prior_samples=null",
    "callbacks.checkpoint_on_interrupt=null",
    "callbacks.stop_on_nonfinite_loss=null",
    "callbacks.model_checkpoint=null",
    "callbacks.classifier_report=null",
    "logger.tensorboard=null",
    "+trainer.enable_checkpointing=false",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


def train_config(overrides: list[str], prefix: str = "speed_"):
    """``dae.conf``'s ``train`` config with ``overrides``, classifier M's report off (it acts after
    training, outside what these scripts time) and a fresh temporary job folder."""
    from hydra import compose, initialize_config_module

    import dae  # noqa: F401 - registers the configs' resolvers

    out = tempfile.mkdtemp(prefix=prefix)
    with initialize_config_module(version_base="1.3", config_module="dae.conf", job_name="train"):
        return compose("train", overrides=["callbacks.classifier_report=null", f"paths.output_dir={out}", *overrides])


def warmed_up(overrides: list[str], prefix: str):
    """The data module, model and trainer that ``dae.train`` builds with ``overrides``, after one untimed
    epoch of ``Trainer.fit`` (allocations, kernel choices, CUDA graph capture). Raise
    ``trainer.fit_loop.max_epochs`` and call ``trainer.fit`` again for the epochs to study; that call
    builds the optimizer again and, with ``trainer=gpu``, captures the graphs again (a few steps' time)."""
    from dae.training import build

    datamodule, model, trainer = build(train_config(["trainer.max_epochs=1", *overrides], prefix=prefix))
    trainer.fit(model, datamodule=datamodule)
    return datamodule, model, trainer


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
    elif argv[:1] == ["--no-callbacks"]:
        print(*NO_CALLBACKS)
    else:
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(train_config(argv)))


if __name__ == "__main__":
    main()
