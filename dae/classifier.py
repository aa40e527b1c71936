"""Classifier M: ``python -m dae.classifier [refresh=true]`` trains (or refreshes) it and prints its report
on the clean test set. M itself lives in :mod:`dae.scoring.classifier`."""

from __future__ import annotations

import sys

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from dae.cli import one_line_errors, prepare_argv
from dae.noise import Identity
from dae.scoring.classifier import load_or_train, predict, report
from dae.speedups.allocator import keep_freed_memory


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="classifier")
def main(cfg: DictConfig) -> float:
    keep_freed_memory()  # faster CPU steps (dae/speedups/allocator.py)
    with one_line_errors(cfg.paths.output_dir):
        datamodule = instantiate(cfg.data, noise=Identity())
        datamodule.prepare_data()
        datamodule.setup()
        net = load_or_train(cfg.classifier, datamodule, cfg.paths.cache_dir, refresh=cfg.refresh)
    _, images, labels = datamodule.images("test")
    clean, text = report(labels.numpy(), predict(net, images))
    print(f"Classifier M on the clean test set ({len(labels)} images):\n{text}")
    return clean["accuracy"]


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
