"""Lightning callbacks: one file each."""

from dae.callbacks.loss_curves import LossCurves
from dae.callbacks.reconstruction_grid import ReconstructionGrid

__all__ = ["LossCurves", "ReconstructionGrid"]
