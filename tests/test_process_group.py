"""dae.callbacks.DestroyProcessGroupAtExit: a rank's gloo group is destroyed at exit, not left to finalization."""

import atexit

import torch.distributed as dist

from dae.callbacks import DestroyProcessGroupAtExit
from dae.callbacks.process_group import destroy_process_group


def registered(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(atexit, "register", calls.append)
    monkeypatch.setattr(atexit, "unregister", lambda f: calls.remove(f) if f in calls else None)
    return calls


def test_a_rank_destroys_its_gloo_group_at_exit(monkeypatch, tmp_path):
    calls = registered(monkeypatch)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        for stage in ("fit", "validate", "test"):  # one process may run several stages: registered once
            DestroyProcessGroupAtExit().setup(None, None, stage)
        assert calls == [destroy_process_group]
        calls[0]()
        assert not dist.is_initialized()
    finally:
        destroy_process_group()


def test_a_single_process_registers_nothing(monkeypatch):
    calls = registered(monkeypatch)
    DestroyProcessGroupAtExit().setup(None, None, "fit")
    assert calls == []
