"""Lightning callbacks: one file each."""

from dae.callbacks.base import ReportCallback
from dae.callbacks.classifier_report import ClassifierReport
from dae.callbacks.interrupt_checkpoint import CheckpointOnInterrupt
from dae.callbacks.loss_curves import LossCurves
from dae.callbacks.model_checkpoint import BestAndLastCheckpoint
from dae.callbacks.nonfinite_loss import StopOnNonFiniteLoss
from dae.callbacks.prior_samples import PriorSamples
from dae.callbacks.process_group import DestroyProcessGroupAtExit
from dae.callbacks.reconstruction_grid import ReconstructionGrid
from dae.callbacks.svm_probe import SVMProbe
from dae.callbacks.training_clock import TrainingClock

__all__ = [
    "BestAndLastCheckpoint",
    "CheckpointOnInterrupt",
    "ClassifierReport",
    "DestroyProcessGroupAtExit",
    "LossCurves",
    "PriorSamples",
    "ReconstructionGrid",
    "ReportCallback",
    "SVMProbe",
    "StopOnNonFiniteLoss",
    "TrainingClock",
]
