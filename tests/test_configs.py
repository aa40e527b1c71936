"""Every choice of every config group composes and its ``_target_`` instantiates."""

from pathlib import Path

import pytest
from hydra.utils import instantiate

from tests.conftest import CONF, compose_train

GROUPS = ["model", "loss", "noise", "data", "trainer", "callbacks", "logger"]
CHOICES = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_choice_instantiates(group, choice, tmp_path, fixture_data):
    from tests.conftest import fixture_overrides

    cfg = compose_train([*fixture_overrides(*fixture_data), f"{group}={choice}"], tmp_path)
    node = cfg[group]
    if group in ("callbacks", "logger"):
        objects = [instantiate(v) for v in node.values() if v is not None]
        assert objects and all(o is not None for o in objects)
    elif group == "model":
        assert instantiate(node, loss=instantiate(cfg.loss)) is not None
    elif group == "data":
        assert instantiate(node, noise=instantiate(cfg.noise)) is not None
    elif group == "trainer":
        assert instantiate(node, logger=False).max_epochs == node.max_epochs
    else:
        assert instantiate(node) is not None


@pytest.mark.parametrize("name", [p.stem for p in sorted((CONF / "experiment").glob("*.yaml"))] + [p.stem for p in sorted((CONF / "debug").glob("*.yaml"))])
def test_experiment_and_debug_configs_compose(name, tmp_path):
    group = "experiment" if (CONF / "experiment" / f"{name}.yaml").exists() else "debug"
    cfg = compose_train([f"{group}={name}"], tmp_path)
    assert cfg.model is not None


def test_every_group_named_in_the_issue_exists():
    for group in ["model", "loss", "noise", "data", "trainer", "callbacks", "logger", "paths", "hydra", "experiment", "debug"]:
        assert (CONF / group).is_dir(), group
    assert {p.stem for p in (CONF / "loss").glob("*.yaml")} >= {"l1", "mse", "smooth_l1"}
    assert {p.stem for p in (CONF / "noise").glob("*.yaml")} >= {"gaussian", "salt_pepper", "speckle", "periodic", "none"}


def test_data_dir_follows_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DAE_DATA_DIR", str(tmp_path / "elsewhere"))
    cfg = compose_train([], tmp_path)
    assert cfg.data.source.data_dir == str(tmp_path / "elsewhere")
    monkeypatch.delenv("DAE_DATA_DIR")
    cfg = compose_train([], tmp_path)
    assert Path(cfg.data.source.data_dir) == Path(__file__).resolve().parents[1] / "data"


def test_tensorboard_writer_flushes_within_seconds(tmp_path):
    """A Ctrl-C that lands inside one of the event writer's queue writes can leave its thread asleep until
    its next flush is due, and the run's closing flush waits for it: with SummaryWriter's default of 120 s,
    Ctrl-C took 2 minutes to exit (conf/logger/tensorboard.yaml)."""
    cfg = compose_train([], tmp_path)
    assert 0 < cfg.logger.tensorboard.flush_secs <= 10  # TensorBoardLogger hands it on to the SummaryWriter
