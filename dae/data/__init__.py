"""Datasets: where the files come from (source), how batches are cut (batches), the data module."""

from dae.data.datamodule import DenoisingDataModule
from dae.data.source import DataError, IDXSource

__all__ = ["DataError", "DenoisingDataModule", "IDXSource"]
