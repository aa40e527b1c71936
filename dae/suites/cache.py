"""A suite's corrupted digits, generated once per suite and dataset and cached with their checksum.

The cache is ``<cache_dir>/suites/<suite>-<key>.npy``: uint8 pixels ``(corruptions, n_val + n_test, 28, 28)``,
as MNIST-C stores its images, with ``.json`` beside it holding the SHA-256 of that file, the dataset's
checksums and the corruption names. A file whose checksum or dataset does not match (a damaged copy, one
written for another dataset) is regenerated, and the log says why.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dae.files import check_folder, write_atomic, write_json
from dae.suites import Suite

log = logging.getLogger(__name__)


@dataclass
class SuiteImages:
    """A suite's digits, float in [0, 1], ``(N, 1, 28, 28)``: for each split (``val``, ``test``) the clean
    digits, their labels and, by corruption name, the corrupted copies."""

    suite: Suite
    clean: dict[str, torch.Tensor]
    labels: dict[str, np.ndarray]
    corrupted: dict[str, dict[str, torch.Tensor]]  # split -> name -> digits

    @property
    def names(self) -> list[str]:
        return self.suite.names


def digits(datamodule, split: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` clean digits of a split of the data module as uint8 ``(N, 28, 28)``, the padding cut, and their labels."""
    images = datamodule.images(split)
    clean, labels = images.clean[:n], images.labels[:n].numpy()
    pad = (clean.shape[-1] - datamodule.source.read("test_images").shape[-1]) // 2
    area = clean[:, 0, pad : clean.shape[-2] - pad, pad : clean.shape[-1] - pad]
    return area.mul(255).round().to(torch.uint8).numpy(), labels


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generate(suite: Suite, clean: dict[str, np.ndarray]) -> np.ndarray:
    """Every corruption of every split's clean uint8 digits: uint8 ``(corruptions, N, 28, 28)``, splits in order."""
    out = []
    for name in suite.names:
        start = time.perf_counter()
        parts = [suite.corrupt(name, images.astype(np.float64) / 255, suite.rng(name, split)) for split, images in clean.items()]
        out.append(np.round(np.clip(np.concatenate(parts), 0, 1) * 255).astype(np.uint8))
        log.info("suite %s: %s generated in %.1f s", suite.name, name, time.perf_counter() - start)
    return np.stack(out)


def suite_images(suite: Suite, datamodule, n_val: int, cache_dir: str | Path) -> SuiteImages:
    """The suite's corrupted copies of the first ``n_val`` validation digits and of every test digit, from
    the cache or generated now (and cached)."""
    clean, labels = {}, {}
    for split, n in (("val", n_val), ("test", None)):
        clean[split], labels[split] = digits(datamodule, split, n)
    identity = {
        **suite.identity(),
        "data": datamodule.source.checksums(),
        "split": [datamodule.val_size, datamodule.split_seed],
        "n_val": n_val,
    }
    key = _sha256(json.dumps(identity, sort_keys=True).encode())[:16]
    path = check_folder(cache_dir, "paths.cache_dir") / "suites" / f"{suite.name}-{key}.npy"
    pixels = _cached(path, identity)
    if pixels is None:
        start = time.perf_counter()
        pixels = generate(suite, clean)
        buffer = io.BytesIO()
        np.save(buffer, pixels)
        data = buffer.getvalue()
        write_atomic(path, data)
        write_json(path.with_suffix(".json"), {**identity, "sha256": _sha256(data), "shape": list(pixels.shape)})
        log.info(
            "suite %s: %d corruptions generated in %.0f s, cached in %s", suite.name, len(suite.names), time.perf_counter() - start, path
        )
    bounds = {"val": slice(0, n_val), "test": slice(n_val, None)}
    corrupted = {
        split: {name: torch.from_numpy(pixels[i, part]).float().div_(255).unsqueeze(1) for i, name in enumerate(suite.names)}
        for split, part in bounds.items()
    }
    tensors = {split: torch.from_numpy(images).float().div_(255).unsqueeze(1) for split, images in clean.items()}
    return SuiteImages(suite, tensors, labels, corrupted)


def _cached(path: Path, identity: dict) -> np.ndarray | None:
    """The cached pixels at ``path`` if they are intact and made for ``identity``; None (with the reason
    logged) if they must be generated."""
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        data = path.read_bytes()
    except (OSError, ValueError) as e:
        log.warning("suite cache %s cannot be read (%s): generating it again", path, e)
        return None
    if any(meta.get(k) != v for k, v in identity.items()):
        log.warning("suite cache %s was made for another dataset or suite: generating it again", path)
        return None
    if meta.get("sha256") != _sha256(data):
        log.warning("suite cache %s does not match its checksum (damaged): generating it again", path)
        return None
    log.info("suite cache: loaded %s", path)
    return np.load(io.BytesIO(data))
