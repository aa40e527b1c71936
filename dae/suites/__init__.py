"""Corruption suites: named sets of corruptions of 28 x 28 digits that no model trains on, for
``python -m dae.corruptions``. A suite is chosen with ``suite=<name>`` (conf/suite/); a new one is a
class here and a config there.

- :class:`MnistC`: MNIST-C's fifteen corruptions at their published severity (dae/suites/mnist_c.py);
- :class:`NoiseLevels`: the project's own noises, each at a few levels.

Corrupted digits are generated once per suite and dataset, and cached (dae/suites/cache.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dae.errors import ConfigError, first_line
from dae.noise import Noise
from dae.suites import mnist_c


class Suite:
    """Named corruptions of digits ``(N, 28, 28)`` in [0, 1] (numpy float arrays), each deterministic given
    the suite's ``seed``. ``moving`` names those that move the digit: they are judged by accuracy only."""

    name = "suite"
    moving: tuple[str, ...] = ()

    def __init__(self, names: Sequence[str], seed: int = 0) -> None:
        self.names, self.seed = list(names), int(seed)

    def corrupt(self, name: str, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def rng(self, name: str, split: str) -> np.random.Generator:
        """The random numbers of one corruption of one split: from the seed and the two names alone, so
        that adding or dropping a corruption changes no other."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode()), zlib.crc32(split.encode())])

    def identity(self) -> dict:
        """What defines the suite's images (the cache key)."""
        return {"suite": self.name, "names": self.names, "seed": self.seed}


def chosen(names: Sequence[str] | None, known: Sequence[str], suite: str) -> list[str]:
    """``names`` (all of ``known`` when None), each checked: an unknown one is a ConfigError listing the valid names."""
    if names is None:
        return list(known)
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        what = f"unknown corruption {unknown}" if unknown else "no corruption"
        raise ConfigError(
            f"suite.corruptions: {what} in suite {suite}; valid names: {', '.join(known)}. Or leave suite.corruptions=null for all."
        )
    return names


class MnistC(Suite):
    """MNIST-C's fifteen corruptions (or ``corruptions``, a subset), at the published severity."""

    name = "mnist_c"
    moving = mnist_c.MOVING

    def __init__(self, corruptions: Sequence[str] | None = None, seed: int = 0) -> None:
        super().__init__(chosen(corruptions, list(mnist_c.CORRUPTIONS), self.name), seed)

    def corrupt(self, name: str, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return mnist_c.CORRUPTIONS[name](digits, rng)


class NoiseLevels(Suite):
    """The project's noises (``noises``: name -> noise config), each at ``levels`` of its level parameter:
    corruptions named ``<noise>@<level>``."""

    name = "noise_levels"

    def __init__(self, noises: dict | DictConfig, levels: dict | DictConfig, seed: int = 0) -> None:
        levels = OmegaConf.to_container(levels) if isinstance(levels, DictConfig) else dict(levels)
        self.noises = {}
        for key, node in dict(noises).items():
            noise = node if isinstance(node, Noise) else instantiate(node)  # Hydra builds the noises first
            for level in levels.get(key, []):
                try:
                    self.noises[f"{key}@{level:g}"] = noise.at_level(float(level))
                except ValueError as e:
                    raise ConfigError(f"suite.levels.{key}={levels[key]}: {first_line(e)}") from None
        missing = [k for k in levels if k not in noises]
        if missing or not self.noises:
            raise ConfigError(f"suite.levels: {missing or 'nothing'} to corrupt with; give levels for some of {sorted(noises)}.")
        super().__init__(list(self.noises), seed)

    def corrupt(self, name: str, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return self.noises[name](torch.from_numpy(digits).float().unsqueeze(1), generator)[:, 0].numpy()

    def identity(self) -> dict:
        return {**super().identity(), "noises": {k: [type(v).__name__, v.params()] for k, v in self.noises.items()}}
