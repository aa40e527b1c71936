"""dae.train: training end to end on the fixture, in this process, and its job folder."""

import io
import json
from pathlib import Path

import pytest
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dae.training import train
from tests.conftest import N_TEST

METRIC_KEYS = {"val/psnr", "val/ssim", "test/psnr", "test/ssim", "test/noisy_psnr", "test/loss"}


def test_fast_dev_run(train_cfg):
    with open_dict(train_cfg):
        train_cfg.trainer.fast_dev_run = True
    metrics = train(train_cfg)
    assert METRIC_KEYS <= metrics.keys()
    assert metrics["test/noisy_psnr"] == pytest.approx(9.4, abs=0.3)  # the fixed sigma = 0.5 noise on the fixture's digits


def test_job_folder_holds_everything(train_cfg):
    out = Path(train_cfg.paths.output_dir)
    metrics = train(train_cfg)
    saved = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= saved.keys() and saved["test/psnr"] == pytest.approx(metrics["test/psnr"])
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert len(list((out / "checkpoints").glob("best-*.ckpt"))) == 1
    assert (out / "reconstructions.png").stat().st_size > 1000
    assert (out / "loss_curves.png").stat().st_size > 1000

    events = EventAccumulator(str(out)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "train/loss_step",
        "train/loss_epoch",
        "val/loss",
        "val/psnr",
        "val/ssim",
        "test/psnr",
        "hp/val_psnr",
        "hp/test_psnr",
    } <= scalars
    assert "reconstructions" in events.Tags()["images"]


def test_hparams_session_lists_the_axes(train_cfg):
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = Path(train_cfg.paths.output_dir)
    train(train_cfg)
    found = {}
    for path in out.glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path)).Reload()
        try:
            contents = events.PluginTagToContent("hparams")
        except KeyError:  # the event files of validate() and test() carry scalars only
            continue
        for content in contents.values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.HasField("session_start_info"):
                found.update({k: v for k, v in data.session_start_info.hparams.items()})
            if data.HasField("experiment"):
                found["metrics"] = [m.name.tag for m in data.experiment.metric_infos]
    assert {"loss", "noise", "noise.sigma", "latent_dim", "lr"} <= found.keys()
    assert found["loss"].string_value == "l1" and found["noise.sigma"].number_value == 0.5
    assert set(found["metrics"]) == {
        "hp/val_psnr",
        "hp/val_ssim",
        "hp/test_psnr",
        "hp/acc_clean",
        "hp/acc_noisy",
        "hp/acc_denoised",
        "hp/acc_reconstructed",
    }


def test_bad_data_stops_before_training(train_cfg, tmp_path):
    from dae.errors import DataError

    with open_dict(train_cfg):
        train_cfg.data.source.files.train_labels.md5 = "0" * 32
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        train(train_cfg)
    assert not (Path(train_cfg.paths.output_dir) / "checkpoints").exists()


def test_same_seed_same_metrics_other_seed_other_metrics(fixture_data, tmp_path):
    from tests.conftest import compose_train, fixture_overrides

    def run(seed: int, name: str) -> dict:
        overrides = [
            *fixture_overrides(*fixture_data),
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=4",
            f"seed={seed}",
            "callbacks.classifier_report=null",
        ]
        metrics = train(compose_train(overrides, tmp_path / name))
        return {k: v for k, v in metrics.items() if k in METRIC_KEYS}

    first, second, other = run(3, "a"), run(3, "b"), run(4, "c")
    assert first == second  # identical, not merely close, on the CPU
    assert first != other


def test_blind_mixed_noise_trains_and_tests(fixture_data, tmp_path):
    """noise=mixed: each image one of the four types at a level from its range, through the whole run."""
    from tests.conftest import compose_train, fixture_overrides

    overrides = [
        *fixture_overrides(*fixture_data),
        "noise=mixed",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "callbacks.classifier_report=null",
    ]
    metrics = train(compose_train(overrides, tmp_path / "job"))
    assert metrics["test/psnr"] > 0 and metrics["test/noisy_psnr"] > 0


@pytest.mark.parametrize("model", ["unet_ae", "attention_ae", "vae"])
def test_every_model_trains_and_is_judged(model, fixture_data, tmp_path):
    from tests.conftest import compose_train, fixture_overrides

    job = tmp_path / "job"
    overrides = [
        *fixture_overrides(*fixture_data),
        f"model={model}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
    ]
    assert train(compose_train(overrides, job))["epochs"] == 1
    assert json.loads((job / "classifier_report.json").read_text())["denoised"]["macro avg"]["support"] == N_TEST
    assert (job / "prior_samples.png").is_file() == (model == "vae")
    if model == "vae":  # the two terms of its loss, logged apart
        events = EventAccumulator(str(job)).Reload()
        assert {"train/kl", "train/reconstruction", "train/loss_epoch"} <= set(events.Tags()["scalars"])


@pytest.mark.parametrize(
    "override, group, choices",
    [("loss=foo", "loss", ["l1", "mse", "smooth_l1"]), ("noise=bar", "noise", ["gaussian", "salt_pepper", "speckle", "periodic", "none"])],
)
def test_unknown_choice_lists_the_valid_ones_and_starts_nothing(override, group, choices, tmp_path, capsys):
    from hydra.errors import MissingConfigException

    from dae.train import main
    from tests.conftest import run_app

    # Hydra prints it and exits 1; under a tracer (a debugger, coverage) it raises it as it is
    with pytest.raises((SystemExit, MissingConfigException)) as exit:
        run_app(main, override, f"hydra.run.dir={tmp_path / 'run'}")
    assert getattr(exit.value, "code", 1) != 0
    said = capsys.readouterr().err + str(exit.value)
    assert f"Could not find '{group}/{override.split('=')[1]}'" in said
    assert all(choice in said for choice in choices)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["noise.sigma=-0.5"], "noise.sigma=-0.5 is out of range: allowed >= 0.0"),
        (["noise=salt_pepper", "noise.amount=1.2"], "noise.amount=1.2 is out of range: allowed [0.0, 1.0]"),
    ],
)
def test_out_of_range_level_fails_before_any_work(overrides, message, tmp_path, caplog):
    from dae.train import main
    from tests.conftest import run_app

    with pytest.raises(SystemExit) as exit:
        run_app(main, *overrides, f"hydra.run.dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'no-data'}")
    assert str(exit.value.code).startswith(f"error: {message}")
    assert "MNIST" not in caplog.text  # failed before looking for data
    assert not (tmp_path / "no-data").exists() and not (tmp_path / "run").exists()


def test_resume_needs_a_job_folder_with_a_checkpoint_and_no_metrics(job, tmp_path):
    import shutil

    from dae.errors import JobError
    from dae.training import resumable
    from tests.conftest import compose_app

    def error(folder) -> str:
        with pytest.raises((JobError, ValueError)) as caught:
            resumable(compose_app("train", [f"resume={folder}"]))
        return str(caught.value)

    assert f"resume={tmp_path / 'nothing'} does not exist" in error(tmp_path / "nothing")
    assert f"resume={job} has finished (it has metrics.json)" in error(job)
    stopped = tmp_path / "stopped"
    shutil.copytree(job, stopped, ignore=shutil.ignore_patterns("metrics.json", "checkpoints"))  # killed before its first epoch ended
    assert f"resume={stopped} has no checkpoints/last.ckpt" in error(stopped)


def test_resume_with_a_damaged_or_foreign_checkpoint_names_it_and_adds_nothing(job, tmp_path):
    """An empty or cut last.ckpt, another network's weights, a config edited since: one line naming the file,
    the intact checkpoints left, and nothing written into the folder."""
    import shutil

    import torch
    import yaml

    from dae.errors import JobError
    from dae.training import resumable
    from tests.conftest import compose_app

    stopped = Path(shutil.copytree(job, tmp_path / "stopped", ignore=shutil.ignore_patterns("metrics.json")))
    last = stopped / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    (best,) = [p.name for p in (stopped / "checkpoints").glob("best-*.ckpt")]

    def error() -> str:
        before = sorted(p.relative_to(stopped) for p in stopped.rglob("*"))
        with pytest.raises(JobError) as caught:
            resumable(compose_app("train", [f"resume={stopped}"]))
        assert sorted(p.relative_to(stopped) for p in stopped.rglob("*")) == before  # a refused resume adds nothing
        return str(caught.value)

    last.write_bytes(b"")
    assert error() == f"resume={stopped}: {last} is empty; its intact checkpoints: {best}; to continue from one, copy it over last.ckpt."
    last.write_bytes(good[: len(good) // 2])
    assert error().startswith(f"resume={stopped}: {last} is damaged (")

    state = torch.load(io.BytesIO(good), map_location="cpu", weights_only=True)
    state["state_dict"] = {k.replace("net.", "other."): v for k, v in state["state_dict"].items()}
    torch.save(state, last)
    assert "last.ckpt does not fit this job's model (dae.models.ConvAutoencoder): tensors missing" in error()

    last.write_bytes(good)
    config = yaml.safe_load((stopped / ".hydra" / "config.yaml").read_text())
    config["model"]["net"]["latent_dim"] = 64
    (stopped / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    assert "of other shapes" in error() and "was edited since" in error()


@pytest.mark.parametrize(
    "override, message",
    [
        ("noise.sigma=abc", "noise.sigma='abc' is not a number; set noise.sigma=<a number>"),
        ("seed=abc", "seed='abc' is not an integer; set seed=<an integer>"),
        ("data.batch_size=abc", "data.batch_size='abc' is not an integer; set data.batch_size=<an integer>"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type_and_leaves_no_job_folder(override, message, fixture_data, tmp_path, capsys):
    from dae.train import main
    from tests.conftest import fixture_overrides, run_app

    folder = tmp_path / "run"
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"hydra.run.dir={folder}", *fixture_overrides(*fixture_data), override)  # last: it wins
    assert str(exit.value.code).startswith(f"error: {message}")
    assert not folder.exists()  # Hydra had made it, with .hydra/ and the log: a config error leaves none behind


def test_compile_under_the_gpu_trainer_says_the_graph_replay_is_off(fixture_data, tmp_path, caplog):
    from dae.training import build_model
    from tests.conftest import compose_train, fixture_overrides

    with caplog.at_level("WARNING"):
        build_model(compose_train([*fixture_overrides(*fixture_data), "trainer=gpu", "compile=true"], tmp_path / "job"))
    assert "compile=true: the network is compiled, so trainer=gpu's CUDA-graph replay is off" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        build_model(compose_train([*fixture_overrides(*fixture_data), "compile=true"], tmp_path / "job2"))
    assert "CUDA-graph" not in caplog.text  # the plain Denoiser has no replay to lose
