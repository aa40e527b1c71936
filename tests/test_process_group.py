"""dae.callbacks.DestroyProcessGroupAtExit: a rank's gloo group is destroyed at exit, not left to finalization."""

import atexit
import pickle

import torch.distributed as dist

from dae.callbacks import DestroyProcessGroupAtExit
from dae.callbacks.process_group import destroy_if_initialized


def registered(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(atexit, "register", calls.append)
    monkeypatch.setattr(atexit, "unregister", lambda f: calls.remove(f) if f in calls else None)
    return calls


def test_a_rank_destroys_its_gloo_group_at_exit_and_not_before(monkeypatch, tmp_path):
    calls = registered(monkeypatch)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        callback = pickle.loads(pickle.dumps(DestroyProcessGroupAtExit()))  # ddp_spawn sends it to each rank
        for stage in ("fit", "validate", "test"):  # one process may run several stages: registered once
            callback.setup(None, None, stage)
        assert dist.is_initialized()  # the later stages still have their group
        assert calls == [destroy_if_initialized]
        calls[0]()
        assert not dist.is_initialized()
    finally:
        destroy_if_initialized()


def test_a_single_process_registers_nothing(monkeypatch):
    calls = registered(monkeypatch)
    DestroyProcessGroupAtExit().setup(None, None, "fit")
    assert calls == []


def test_every_trainer_the_project_builds_has_it(train_cfg):
    from dae.training import build

    _, _, trainer = build(train_cfg)
    assert any(isinstance(c, DestroyProcessGroupAtExit) for c in trainer.callbacks)
