"""Noise models: one file each; a new noise is one file here and one config in conf/noise/."""

from dae.noise.base import Noise
from dae.noise.blur import Blur
from dae.noise.brightness import Brightness
from dae.noise.dropout import Dropout
from dae.noise.gaussian import Gaussian
from dae.noise.haze import Haze
from dae.noise.identity import Identity
from dae.noise.inversion import Inversion
from dae.noise.jitter import Jitter
from dae.noise.mixed import Mixed
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

__all__ = [
    "Noise",
    "Blur",
    "Brightness",
    "Dropout",
    "Gaussian",
    "Haze",
    "Identity",
    "Inversion",
    "Jitter",
    "Mixed",
    "MotionBlur",
    "Occlusion",
    "Outline",
    "Periodic",
    "Poisson",
    "SaltPepper",
    "Smudges",
    "Speckle",
    "Strokes",
    "WavyLines",
]
