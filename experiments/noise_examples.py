"""The noises before training: the same ten test digits under each noise type, at a lower level,
the benchmark level and a higher one.

    python experiments/noise_examples.py        # writes experiments/noise_examples.png (a few seconds)

Run it where the data folder is (MNIST under ./data, or DAE_DATA_DIR). The benchmark levels are
the defaults in conf/noise/; each row's noise is drawn from the seed of that noise's fixed test set
(dae.data.datamodule.fixed_noise).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.data.datamodule import fixed_noise
from dae.noise import Identity

NOISES = {"gaussian": (0.2, 0.8), "salt_pepper": (0.1, 0.6), "speckle": (0.2, 1.0), "periodic": (0.2, 0.8)}  # lower, higher
OUT = Path(__file__).resolve().with_name("noise_examples.png")


def first_of_each_digit(datamodule) -> torch.Tensor:
    """The first clean test image of each digit 0-9, float in [0, 1]."""
    _, clean, labels = datamodule.images("test")
    return clean[[int((labels == d).nonzero()[0, 0]) for d in range(10)]]


def noise_examples(out: Path = OUT) -> Path:
    with initialize_config_module(version_base="1.3", config_module="dae.conf"):
        cfg = compose("train")
        noises = {name: instantiate(compose("train", overrides=[f"noise={name}"]).noise) for name in NOISES}
    clean = first_of_each_digit(instantiate(cfg.data, noise=Identity()))
    rows = [("clean", clean)]
    for name, noise in noises.items():
        low, high = NOISES[name]
        benchmark = getattr(noise, noise.level_name)
        for level in (low, benchmark, high):
            label = f"{name}\n{noise.level_name}={level:g}" + (" (benchmark)" if level == benchmark else "")
            rows.append((label, fixed_noise(noise.at_level(level), clean, "test")))
    return figures.digit_grid(rows, out, title="the same ten test digits under each noise, at three levels", dpi=75)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"the figure to write (default: {OUT.name} beside this script)")
    args = parser.parse_args()
    print(noise_examples(args.out))


if __name__ == "__main__":
    main()
