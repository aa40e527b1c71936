"""Shared fixtures: a small MNIST-shaped dataset, the real Hydra configs composed for speed, and one
real training job that the tests of the tools read.

Unit tests never touch the network: the fixture dataset is drawn here (digits 0-9 rendered with
Pillow's built-in font at random sizes and offsets), written as real IDX files, and the config's
MD5s are pointed at those files, so the same verification code runs.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image, ImageDraw, ImageFont

import dae  # noqa: F401  (registers the config resolvers)
from dae.data import idx

ROOT = Path(__file__).resolve().parents[1]
CONF = Path(str(importlib.resources.files("dae.conf")))  # conf/, as the installed package reads it
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
N_TRAIN, N_TEST, N_VAL = 600, 200, 100


def draw_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28 x 28 uint8 images of digits 0-9 (every digit present), with their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    fonts = {size: ImageFont.load_default(size=size) for size in range(18, 25)}
    for i, label in enumerate(labels):
        img = Image.new("L", (28, 28))
        position = (int(rng.integers(4, 11)), int(rng.integers(-2, 4)))
        ImageDraw.Draw(img).text(position, str(label), fill=int(rng.integers(180, 256)), font=fonts[int(rng.integers(18, 25))])
        images[i] = np.asarray(img)
    return images, labels.astype(np.uint8)


def write_fixture(folder: Path, n_train: int = N_TRAIN, n_test: int = N_TEST, gz: bool = False) -> dict[str, str]:
    """Write the four IDX files into ``folder``; return role -> MD5 of the uncompressed file."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = draw_digits(n_train, seed=1)
    test_x, test_y = draw_digits(n_test, seed=2)
    md5s = {}
    for role, array in (("train_images", train_x), ("train_labels", train_y), ("test_images", test_x), ("test_labels", test_y)):
        data = idx.encode(array)
        md5s[role] = idx.md5(data)
        path = folder / (FILES[role] + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
    return md5s


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("mnist_fixture")
    return folder, write_fixture(folder)


def fixture_overrides(data_dir: Path, md5s: dict[str, str]) -> list[str]:
    """Overrides that point the data config at the fixture (its folder, its MD5s, no network) and keep runs short."""
    return [
        f"paths.data_dir={data_dir}",
        f"data.val_size={N_VAL}",
        "data.batch_size=32",
        "data.eval_batch_size=100",
        "data.source.mirrors=[]",
        "data.source.package_index=null",
        "trainer.accelerator=cpu",
        "classifier.max_epochs=5",
        "classifier.batch_size=32",
        *(f"data.source.files.{role}.md5={md5}" for role, md5 in md5s.items()),
    ]


def compose_app(name: str, overrides: list[str]) -> DictConfig:
    """The real ``conf/<name>.yaml`` with overrides, as an app's ``main`` gets it (without its hydra node)."""
    GlobalHydra.instance().clear()
    with initialize_config_module(version_base="1.3", config_module="dae.conf"):
        return compose(name, overrides=overrides)


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real conf/train.yaml with overrides, as Hydra would give it to a job in ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_module(version_base="1.3", config_module="dae.conf"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def train_cfg(fixture_data, tmp_path) -> DictConfig:
    """A fast training config on the fixture: one short epoch on CPU, into a temporary job folder."""
    data_dir, md5s = fixture_data
    cfg = compose_train(
        [*fixture_overrides(data_dir, md5s), "trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.log_every_n_steps=1"],
        tmp_path / "job",
    )
    yield cfg
    GlobalHydra.instance().clear()


def run_app(main: Callable, *args: str) -> None:
    """A Hydra app (``dae.train.main``, ...) run in this process as ``python -m <app> <args>`` runs it:
    its job folder, ``.hydra/`` and log included. A failure is a ``SystemExit``, as on the command
    line. The root logger is left as it was found."""
    handlers, level = logging.root.handlers[:], logging.root.level
    argv = sys.argv
    sys.argv = ["app", *args]
    GlobalHydra.instance().clear()
    try:
        main()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        for handler in logging.root.handlers[:]:
            if handler not in handlers:
                logging.root.removeHandler(handler)
                handler.close()
        logging.root.setLevel(level)
        HydraConfig.instance().cfg = None


@pytest.fixture(scope="session")
def job(fixture_data, tmp_path_factory) -> Path:
    """One real training job on the fixture (dae.train's Hydra app, in this process, with the probe
    callback), shared by the tests that read a finished job. Tests that change it work on a copy."""
    from dae.train import main

    folder = tmp_path_factory.mktemp("job") / "run"
    run_app(
        main, f"hydra.run.dir={folder}", "trainer.max_epochs=1", "callbacks=with_probe", "callbacks.svm_probe.n_train=300",
        "+callbacks.svm_probe.n_embed=100", *fixture_overrides(*fixture_data),
    )  # fmt: skip
    return folder


@pytest.fixture
def job_copy(job, tmp_path) -> Path:
    """A copy of :func:`job`, for tests that write into the job folder."""
    import shutil

    return Path(shutil.copytree(job, tmp_path / "job_copy"))


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: int = 300, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` in a subprocess, as a user types it (for the slow tests)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, where torch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (marked gpu)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
