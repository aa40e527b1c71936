import torch

from dae.errors import ConfigError, first_line
from dae.noise.base import Noise, check_range, uniform
from dae.noise.blur import Blur
from dae.noise.brightness import Brightness
from dae.noise.dropout import Dropout
from dae.noise.gaussian import Gaussian
from dae.noise.haze import Haze
from dae.noise.inversion import Inversion
from dae.noise.jitter import Jitter
from dae.noise.motion_blur import MotionBlur
from dae.noise.occlusion import Occlusion
from dae.noise.outline import Outline
from dae.noise.periodic import Periodic
from dae.noise.poisson import Poisson
from dae.noise.salt_pepper import SaltPepper
from dae.noise.smudges import Smudges
from dae.noise.speckle import Speckle
from dae.noise.strokes import Strokes
from dae.noise.wavy_lines import WavyLines

# Every noise with a level, by name: what a mixture may draw from.
TYPES: dict[str, type[Noise]] = {
    n.name: n
    for n in (
        Gaussian,
        SaltPepper,
        Speckle,
        Periodic,
        Poisson,
        Blur,
        MotionBlur,
        Occlusion,
        Strokes,
        WavyLines,
        Haze,
        Smudges,
        Brightness,
        Inversion,
        Dropout,
        Jitter,
        Outline,
    )
}


class Mixed(Noise):
    """A blind mixture: each image gets one noise type, drawn from ``levels``' keys (uniformly, or in proportion
    to ``weights``, 1 for a type it leaves out), at a level drawn uniformly from that type's ``[low, high]`` range (its
    ``level_name`` parameter: sigma, amount, amplitude...; other parameters keep their defaults).
    A share ``clean`` of the images is left as it is, so that clean digits pass through unharmed.
    ``name`` names the mixture in reports (and keys its fixed noise): its config's name."""

    name = "mixed"

    def __init__(
        self, levels: dict[str, list[float]], clean: float = 0.0, name: str = "mixed", weights: dict[str, float] | None = None
    ) -> None:
        self.name = str(name)
        self.clean = check_range("clean", clean, 0.0, 1.0)
        if not levels:
            raise ConfigError(
                f"noise.levels is empty: give one or more of {sorted(TYPES)} with a [low, high] range each, e.g. noise.levels.gaussian=[0.1,0.7]."
            )
        self.types, self.ranges = [], []
        for name, bounds in dict(levels).items():
            if name not in TYPES:
                raise ConfigError(f"noise.levels.{name}: unknown noise type; allowed {sorted(TYPES)}.")
            bounds = list(bounds)
            if len(bounds) != 2 or not float(bounds[0]) <= float(bounds[1]):
                raise ConfigError(f"noise.levels.{name}={bounds} must be [low, high] with low <= high, e.g. noise.levels.{name}=[0.1,0.5].")
            noise = TYPES[name]()
            for level in bounds:
                try:
                    noise.at_level(level)  # each end checked against the type's own range
                except ValueError as err:
                    raise ConfigError(f"noise.levels.{name}={bounds}: {first_line(err)}") from None
            self.types.append(noise)
            self.ranges.append((float(bounds[0]), float(bounds[1])))
        weights = dict(weights or {})
        for name in weights:
            if name not in levels:
                raise ConfigError(
                    f"noise.weights.{name}: not a type of this mixture; weigh one of {list(levels)}, or add noise.levels.{name}."
                )
        self.weights = [check_range(f"weights.{t.name}", weights.get(t.name, 1.0), 0.0) for t in self.types]
        if sum(self.weights) == 0:
            raise ConfigError(f"noise.weights={weights} leave no type to draw: give at least one a weight above 0.")

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = len(x)
        draws = uniform((2, n, 1, 1, 1), x, generator)
        if len(set(self.weights)) == 1:  # uniform, drawn as a mixture without weights always was
            kind = (draws[0] * len(self.types)).long().clamp_(max=len(self.types) - 1)
        else:
            bounds = torch.tensor(self.weights, device=x.device, dtype=torch.float64).cumsum(0) / sum(self.weights)
            kind = torch.bucketize(draws[0].double(), bounds[:-1], right=True)
        out = x
        for i, (noise, (low, high)) in enumerate(zip(self.types, self.ranges)):
            noisy = noise.at_level(low + (high - low) * draws[1]).corrupt(x, generator)
            out = torch.where(kind == i, noisy, out)
        if self.clean:  # drawn last, so that a mixture without clean images draws as it always did
            out = torch.where(uniform((n, 1, 1, 1), x, generator) < self.clean, x, out)
        return out

    def params(self) -> dict[str, float]:
        ranges = {f"{t.name}_{end}": v for t, r in zip(self.types, self.ranges) for end, v in zip(("low", "high"), r)}
        if len(set(self.weights)) > 1:
            ranges |= {f"{t.name}_weight": w for t, w in zip(self.types, self.weights)}
        return {**ranges, "clean": self.clean} if self.clean else ranges
