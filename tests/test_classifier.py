"""dae.classifier: classifier M, trained once per config and dataset, cached, reused."""

import json

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
            waiter = threading.Thread(target=load_or_train, args=(cfg.classifier, dm, cache), kwargs={"accelerator": "cpu"})
            waiter.start()
            deadline = time.time() + 30
            while "waiting for another process" not in caplog.text and time.time() < deadline:
                time.sleep(0.05)
            assert waiter.is_alive()  # it waits for the lock
            fcntl.flock(held, fcntl.LOCK_UN)
        waiter.join(timeout=30)
    assert f"classifier M: waiting for another process that holds {lock}" in caplog.text
    assert caplog.text.count("waiting for another process") == 1


def test_the_classifier_command_prints_ms_report_on_the_clean_test_set(fixture_data, tmp_path, capsys):
    from dae.classifier import main
    from tests.conftest import run_app

    data = [o for o in fixture_overrides(*fixture_data) if o.startswith(("paths.", "data.", "classifier."))]
    run_app(main, *data, f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'log'}")
    out = capsys.readouterr().out
    assert "Classifier M on the clean test set (200 images):" in out and "weighted avg" in out
    assert list((tmp_path / "cache" / "classifier").glob("*/model.pt"))  # trained and cached
