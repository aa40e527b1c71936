"""What every noise model is: a callable on a batch of images, seeded by a generator."""

from __future__ import annotations

import math

import torch


class Noise:
    """Corrupts a batch of images.

    Takes a float tensor ``(N, C, H, W)`` with values in [0, 1] on any device and a
    ``torch.Generator`` on that same device; returns the noisy batch clipped to [0, 1].
    Subclasses implement :meth:`corrupt` and validate their parameters in ``__init__``.
    """

    name = "noise"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.corrupt(x, generator).clamp_(0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, float]:
        """The levels that define this noise (what a sweep varies and reports)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_range(name: str, value: float, low: float = 0.0, high: float = math.inf) -> float:
    """Return ``value`` as a float, or raise a ValueError naming the parameter, the value and the range."""
    value = float(value)
    if not (low <= value <= high) or math.isnan(value):
        allowed = f"[{low}, {high}]" if high != math.inf else f">= {low}"
        raise ValueError(f"noise.{name}={value} is out of range: allowed {allowed}; set noise.{name}=<value in that range>.")
    return value


def normal(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
