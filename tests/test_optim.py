"""dae.optim: the optimizer and the schedule Lightning gets from the configs' partials."""

from functools import partial
from types import SimpleNamespace

import pytest
import torch

from dae.optim import configure_optimizers


class Module(torch.nn.Linear):
    trainer = SimpleNamespace(estimated_stepping_batches=120)


def test_one_cycle_runs_over_every_step_and_is_stepped_per_batch():
    config = configure_optimizers(
        Module(2, 2), partial(torch.optim.Adam, lr=1e-3), partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=3e-3)
    )
    schedule = config["lr_scheduler"]
    assert schedule["interval"] == "step" and schedule["scheduler"].total_steps == 120
    assert isinstance(config["optimizer"], torch.optim.Adam)


def test_other_schedules_step_per_epoch_and_none_leaves_the_optimizer_alone():
    config = configure_optimizers(
        Module(2, 2), partial(torch.optim.SGD, lr=0.1), partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=5)
    )
    assert config["lr_scheduler"]["interval"] == "epoch" and config["lr_scheduler"]["scheduler"].T_max == 5
    module = Module(2, 2)
    optimizer = configure_optimizers(module, partial(torch.optim.SGD, lr=0.1))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["params"] == list(module.parameters())


def peak(cfg) -> float:
    """The highest learning rate the built module's schedule reaches over 100 steps (or its constant one)."""
    from dae.training import build_model

    model = build_model(cfg)
    config = configure_optimizers(Module(2, 2), model.optimizer, model.scheduler)  # the module's own partials, on a stand-in with 120 steps
    optimizer = config["optimizer"] if isinstance(config, dict) else config
    schedule = config["lr_scheduler"]["scheduler"] if isinstance(config, dict) else None
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if schedule is not None:
            schedule.step()
    return max(rates)


def test_model_optimizer_lr_is_the_peak_under_every_schedule(tmp_path):
    """One key drives the learning rate: under one-cycle (the default) it was once ignored for scheduler.max_lr."""
    from tests.conftest import compose_train

    for schedule in ("onecycle", "cosine", "none"):
        for lr in (1e-4, 0.02):
            assert peak(compose_train([f"scheduler={schedule}", f"model.optimizer.lr={lr}"], tmp_path)) == pytest.approx(lr), schedule
    assert peak(compose_train([], tmp_path)) == pytest.approx(0.003)  # the default job's peak, as before


def test_a_peak_set_apart_from_the_optimizer_is_refused_naming_the_key_that_works(tmp_path):
    from dae.errors import ConfigError
    from dae.training import build_model
    from tests.conftest import compose_train

    with pytest.raises(ConfigError, match=r"scheduler.max_lr=0.006 differs from model.optimizer.lr=0.003: .*set model.optimizer.lr=0.006"):
        build_model(compose_train(["scheduler.max_lr=0.006"], tmp_path))


def test_hparams_record_the_learning_rate_used_and_old_jobs_keep_their_peak(tmp_path):
    from dae.jobs import load_job
    from dae.training import hyperparameters
    from tests.conftest import ROOT, compose_train

    assert hyperparameters(compose_train(["model.optimizer.lr=0.0007"], tmp_path))["lr"] == 0.0007
    old = load_job(ROOT / "tests" / "data" / "jobs" / "dae-0.2.0", rebuilt=None)  # max_lr 0.003 beside an ignored lr 0.001
    assert old.cfg.model.optimizer.lr == 0.003 and old.cfg.scheduler.max_lr == 0.003


def test_a_value_torch_refuses_is_one_line_naming_the_settings_before_any_work(tmp_path):
    from dae.errors import ConfigError
    from dae.training import build_model
    from tests.conftest import compose_train

    with pytest.raises(ConfigError, match=r"model.optimizer.lr=-1: torch refuses these settings \(Invalid learning rate: -1\)"):
        build_model(compose_train(["model.optimizer.lr=-1"], tmp_path))
    with pytest.raises(ConfigError, match=r"scheduler.max_lr=0.003, scheduler.pct_start=2: torch refuses these settings \(.*pct_start"):
        build_model(compose_train(["scheduler.pct_start=2"], tmp_path))
