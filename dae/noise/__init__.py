"""Noise models: one file each; a new noise is one file here and one config in conf/noise/."""

from dae.noise.base import Noise
from dae.noise.blur import Blur
from dae.noise.gaussian import Gaussian
from dae.noise.identity import Identity
from dae.noise.mixed import Mixed
from dae.noise.occlusion import Occlusion
from dae.noise.periodic import Periodic
from dae.noise.poisson import Poisson
from dae.noise.salt_pepper import SaltPepper
from dae.noise.speckle import Speckle

__all__ = ["Noise", "Blur", "Gaussian", "Identity", "Mixed", "Occlusion", "Periodic", "Poisson", "SaltPepper", "Speckle"]
