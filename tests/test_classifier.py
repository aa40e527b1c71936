"""dae.classifier: classifier M, trained once per config and dataset, cached, reused."""

import json

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose_train, fixture_overrides


def test_classifier_is_cached_and_reused(fixture_data, tmp_path, caplog):
    from dae.scoring.classifier import load_or_train

    cfg = compose_train(fixture_overrides(*fixture_data), tmp_path / "job")
    from hydra.utils import instantiate

    from dae.noise import Identity

    dm = instantiate(cfg.data, noise=Identity())
    dm.prepare_data()
    dm.setup()
    cache = tmp_path / "cache"
    with caplog.at_level("INFO"):
        first = load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    weights = next(cache.glob("classifier/*/model.pt"))
    stamp = weights.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO"):
        second = load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    assert "loaded from" in caplog.text and "training" not in caplog.text
    assert weights.stat().st_mtime_ns == stamp
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert (a == b).all()
    report = json.loads((weights.parent / "report.json").read_text())
    assert report["clean"]["accuracy"] >= 0.95  # M on the fixture's clean test digits (0.995 seen)

    import torch

    torch.manual_seed(1234)  # whatever the caller's random state, M is trained the same
    retrained = load_or_train(cfg.classifier, dm, cache, refresh=True, accelerator="cpu")
    for a, b in zip(first.state_dict().values(), retrained.state_dict().values()):
        assert torch.equal(a, b)

    OmegaConf.set_struct(cfg, False)
    cfg.classifier.lr = 0.001  # another config: another cache entry
    load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    assert len(list(cache.glob("classifier/*/model.pt"))) == 2


def test_waiting_for_another_process_holding_the_classifier_lock_is_said(fixture_data, tmp_path, caplog):
    import fcntl
    import threading
    import time

    from hydra.utils import instantiate

    from dae.noise import Identity
    from dae.scoring.classifier import load_or_train

    cfg = compose_train(fixture_overrides(*fixture_data), tmp_path / "job")
    dm = instantiate(cfg.data, noise=Identity())
    cache = tmp_path / "cache"
    load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    (lock,) = (cache / "classifier").glob("*.lock")
    with open(lock, "w") as held:  # another process, training or loading M
        fcntl.flock(held, fcntl.LOCK_EX)
        with caplog.at_level("INFO"):
            kwargs = {"accelerator": "cpu", "refresh": True}  # M to be trained: a cached M is read without the lock
            waiter = threading.Thread(target=load_or_train, args=(cfg.classifier, dm, cache), kwargs=kwargs)
            waiter.start()
            deadline = time.time() + 30
            while "waiting for another process" not in caplog.text and time.time() < deadline:
                time.sleep(0.05)
            assert waiter.is_alive()  # it waits for the lock
            fcntl.flock(held, fcntl.LOCK_UN)
        waiter.join(timeout=30)
    assert f"classifier M: waiting for another process that holds {lock}" in caplog.text
    assert caplog.text.count("waiting for another process") == 1


def _data(fixture_data, tmp_path):
    from hydra.utils import instantiate

    from dae.noise import Identity

    cfg = compose_train(fixture_overrides(*fixture_data), tmp_path / "job")
    return cfg, instantiate(cfg.data, noise=Identity())


def test_a_disk_that_fills_while_m_is_cached_leaves_nothing_and_says_what_to_free(fixture_data, tmp_path, monkeypatch):
    import errno

    import dae.files
    from dae.errors import DataError
    from dae.scoring.classifier import load_or_train

    cfg, dm = _data(fixture_data, tmp_path)
    written = []

    def fsync(fd):
        written.append(fd)
        if len(written) == 2:  # the second file of the cache folder
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dae.files.os, "fsync", fsync)
    with pytest.raises(DataError) as failed:
        load_or_train(cfg.classifier, dm, tmp_path / "cache", accelerator="cpu")
    message = str(failed.value)
    assert message.startswith(f"classifier M could not be cached in {tmp_path / 'cache' / 'classifier'}")
    assert "(OSError: [Errno 28] No space left on device); nothing of it was written. It needs " in message
    assert "free space there, or point paths.cache_dir (or DAE_DATA_DIR) at another disk; M will train again." in message
    assert [p.name for p in (tmp_path / "cache" / "classifier").iterdir()] == [
        f"{next((tmp_path / 'cache' / 'classifier').glob('*.lock')).name}"
    ]


def test_a_cache_without_room_or_that_cannot_be_written_is_refused_before_m_trains(fixture_data, tmp_path, monkeypatch, caplog):
    import collections
    import os

    import dae.files
    from dae.errors import ConfigError
    from dae.scoring.classifier import load_or_train

    cfg, dm = _data(fixture_data, tmp_path)
    cache = tmp_path / "cache"
    usage = collections.namedtuple("usage", "total used free")
    with monkeypatch.context() as patch, caplog.at_level("INFO"):
        patch.setattr(dae.files.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
        with pytest.raises(ConfigError, match=r"paths.cache_dir=.*: 0.0 MB free on its disk, and \d+\.\d MB are needed; free space there"):
            load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    assert "training" not in caplog.text
    real_access = os.access
    monkeypatch.setattr(
        dae.files.os, "access", lambda path, mode: False if str(path).startswith(str(tmp_path)) else real_access(path, mode)
    )
    with pytest.raises(ConfigError, match=f"paths.cache_dir={cache}: {cache} cannot be written to \\(read-only\\); point paths.cache_dir"):
        load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    monkeypatch.undo()
    load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    monkeypatch.setattr(dae.files.os, "access", lambda path, mode: False)
    load_or_train(cfg.classifier, dm, cache, accelerator="cpu")  # a cached M is read from a cache that cannot be written


def test_ctrl_c_while_m_trains_says_it_was_not_cached(fixture_data, tmp_path, monkeypatch):
    import signal

    from dae.scoring.classifier import ClassifierModule, load_or_train

    cfg, dm = _data(fixture_data, tmp_path)

    def interrupted(self, batch, batch_idx):
        raise KeyboardInterrupt

    monkeypatch.setattr(ClassifierModule, "training_step", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as stopped:  # Lightning's own handling of the Ctrl-C, then the line
            load_or_train(cfg.classifier, dm, tmp_path / "cache", accelerator="cpu")
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl-Cs while it shuts down
    folder = tmp_path / "cache" / "classifier"
    assert str(stopped.value.code).startswith(f"interrupted: classifier M was not cached in {folder}/")
    assert str(stopped.value.code).endswith("; it will train again the next time it is needed.")
    assert not list(folder.glob("*/model.pt"))


def test_a_path_part_longer_than_file_systems_allow_is_refused(tmp_path):
    from dae.errors import ConfigError
    from dae.files import check_folder

    with pytest.raises(ConfigError, match=r"paths.cache_dir=.*: the part x{40}\.\.\. is 300 bytes long; file systems allow 255"):
        check_folder(tmp_path / ("x" * 300) / "cache", "paths.cache_dir")


def test_the_classifier_command_prints_ms_report_on_the_clean_test_set(fixture_data, tmp_path, capsys):
    from dae.classifier import main
    from tests.conftest import run_app

    data = [o for o in fixture_overrides(*fixture_data) if o.startswith(("paths.", "data.", "classifier."))]
    run_app(main, *data, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'log'}")
    out = capsys.readouterr().out
    assert "Classifier M on the clean test set (200 images):" in out and "weighted avg" in out
    assert list((tmp_path / "cache" / "classifier").glob("*/model.pt"))  # trained and cached
