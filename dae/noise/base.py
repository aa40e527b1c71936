"""What every noise model is: a callable on a batch of images, seeded by a generator."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from dae.errors import ConfigError, number


class Noise:
    """Corrupts a batch of images.

    Takes a float tensor ``(N, C, H, W)`` with values in [0, 1] on any device and a
    ``torch.Generator`` on that same device; returns the noisy batch clipped to [0, 1].
    Subclasses implement :meth:`corrupt` and validate their parameters in ``__init__``.
    """

    name = "noise"
    level_name: str | None = None  # the parameter that sets how strong the noise is (e.g. "sigma")
    random = True  # False for a deterministic corruption (blur): the generator is not used

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.corrupt(x, generator).clamp_(0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def at_level(self, level: float | torch.Tensor) -> Noise:
        """This noise at another level (its ``level_name`` parameter). A number is checked like
        the parameter itself; a tensor of shape ``(N, 1, 1, 1)`` gives each image of a batch its
        own level (the caller checks its range)."""
        if self.level_name is None:
            raise ConfigError(f"noise {self.name!r} has no level to vary; use a noise with one (gaussian, salt_pepper, speckle, periodic).")
        if not isinstance(level, torch.Tensor):
            return type(self)(**{**self.params(), self.level_name: level})
        noise = copy.copy(self)
        setattr(noise, self.level_name, level)
        return noise

    def params(self) -> dict[str, float]:
        """The levels that define this noise (what a sweep varies and reports)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_range(name: str, value: float, low: float = 0.0, high: float = math.inf) -> float:
    """Return ``value`` as a float, or raise a ConfigError naming the parameter, the value and the range."""
    value = number(f"noise.{name}", value)
    if not (low <= value <= high) or math.isnan(value):
        allowed = f"[{low}, {high}]" if high != math.inf else f">= {low}"
        raise ConfigError(f"noise.{name}={value} is out of range: allowed {allowed}; set noise.{name}=<value in that range>.")
    return value


def per_image(level: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A level (a number, or one per image as :meth:`Noise.at_level` sets it) as a ``(N, 1, 1, 1)`` tensor for the batch ``x``."""
    return torch.as_tensor(level, device=x.device, dtype=x.dtype).reshape(-1, 1, 1, 1).expand(len(x), 1, 1, 1)


def normal(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)


def identity_grid(x: torch.Tensor) -> torch.Tensor:
    """The sampling grid of ``grid_sample`` that maps the batch ``x`` onto itself, ``(N, H, W, 2)`` in [-1, 1]:
    the noises that move pixels add their offsets to it."""
    eye = torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(len(x), 2, 3)
    return F.affine_grid(eye, list(x.shape), align_corners=False)
