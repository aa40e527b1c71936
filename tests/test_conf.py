"""conf/: every choice of every config group composes and builds what it says, and the groups a user
varies are all there."""

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from dae.data import DenoisingDataModule
from dae.denoiser import Denoiser
from dae.noise import Noise
from tests.conftest import CONF, compose_train, fixture_overrides

GROUPS = ["model", "loss", "noise", "data", "trainer", "callbacks", "logger", "scheduler", "classifier"]
CHOICES = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize("group, choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_choice_builds_what_its_group_holds(group, choice, tmp_path, fixture_data):
    cfg = compose_train([*fixture_overrides(*fixture_data), f"{group}={choice}"], tmp_path)
    node = cfg[group]
    if group in ("callbacks", "logger"):
        objects = [instantiate(v) for v in node.values() if v is not None]
        assert objects and all(isinstance(o, L.Callback if group == "callbacks" else L.pytorch.loggers.Logger) for o in objects)
    elif group == "model":
        model = instantiate(node, loss=instantiate(cfg.loss))
        assert isinstance(model, Denoiser) and isinstance(model.net, nn.Module)
    elif group == "data":
        assert isinstance(instantiate(node, noise=instantiate(cfg.noise)), DenoisingDataModule)
    elif group == "trainer":
        declared = compose_train([f"trainer={choice}"], tmp_path).trainer  # the choice's own device, not the fixture's cpu
        assert declared.accelerator == {"default": "auto", "cpu": "cpu", "gpu": "gpu", "ddp": "gpu", "ddp_cpu": "cpu"}.get(
            choice, declared.accelerator
        )
        if declared.accelerator != "gpu" or torch.cuda.is_available():
            trainer = instantiate(declared, logger=False)
            assert trainer.max_epochs == declared.max_epochs and trainer.num_devices == declared.devices
        trainer = instantiate(node, logger=False)  # on the CPU, as the tests run
        assert trainer.max_epochs == node.max_epochs and trainer.strategy.root_device.type == "cpu"
    elif group == "noise":
        assert isinstance(instantiate(node), Noise)
    elif group == "loss":
        assert isinstance(instantiate(node), nn.Module)
    elif group == "scheduler":
        schedule = instantiate(node)
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        assert (choice == "none") == (not node) and (
            not node or schedule(optimizer=optimizer, **({"total_steps": 10} if choice == "onecycle" else {})).optimizer is optimizer
        )
    else:  # classifier: its network
        assert isinstance(instantiate(node.net), nn.Module)


@pytest.mark.parametrize(
    "group, name",
    [("experiment", p.stem) for p in sorted((CONF / "experiment").glob("*.yaml"))]
    + [("debug", p.stem) for p in sorted((CONF / "debug").glob("*.yaml"))],
)
def test_experiment_and_debug_configs_set_what_they_say(group, name, tmp_path):
    """Every value the file sets is in the composed config, and every group it overrides is that group's choice."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"))
    cfg = compose_train([f"{group}={name}"], tmp_path)
    overrides = [item for item in raw.pop("defaults", []) if isinstance(item, dict)]
    for item in overrides:
        ((key, choice),) = item.items()
        group_name = key.split("/")[-1]
        assert cfg[group_name] == compose_train([f"{group_name}={choice}"], tmp_path)[group_name], key
    leaves = [(k, v) for k, v in _flat(raw)]
    assert leaves or overrides
    for key, value in leaves:
        assert OmegaConf.select(cfg, key) == value, key


def _flat(node: dict, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_every_group_a_user_varies_exists():
    for group in ["model", "loss", "noise", "data", "trainer", "callbacks", "logger", "paths", "hydra", "experiment", "debug"]:
        assert (CONF / group).is_dir(), group
    assert {p.stem for p in (CONF / "loss").glob("*.yaml")} >= {"l1", "mse", "smooth_l1"}
    assert {p.stem for p in (CONF / "noise").glob("*.yaml")} >= {"gaussian", "salt_pepper", "speckle", "periodic", "none"}


@pytest.mark.parametrize("noise", ["mixed", "broad"])
def test_a_mixture_takes_weights_on_the_command_line(noise, tmp_path):
    cfg = compose_train([f"noise={noise}", "noise.weights={gaussian:2,periodic:3}"], tmp_path)  # no + needed
    mixed = instantiate(cfg.noise)
    assert dict(zip([t.name for t in mixed.types], mixed.weights)) == {
        t.name: {"gaussian": 2, "periodic": 3}.get(t.name, 1) for t in mixed.types
    }
    assert instantiate(compose_train([f"noise={noise}"], tmp_path).noise).weights == [1.0] * len(mixed.types)  # by default, uniform


def test_tensorboard_writer_flushes_within_seconds(tmp_path):
    """A Ctrl-C that lands inside one of the event writer's queue writes can leave its thread asleep until
    its next flush is due, and the run's closing flush waits for it: with SummaryWriter's default of 120 s,
    Ctrl-C took 2 minutes to exit (conf/logger/tensorboard.yaml)."""
    cfg = compose_train([], tmp_path)
    assert 0 < cfg.logger.tensorboard.flush_secs <= 10  # TensorBoardLogger hands it on to the SummaryWriter
