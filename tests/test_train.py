"""Training end to end on the fixture, in process."""

import json
from pathlib import Path

import pytest
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dae.train import train

METRIC_KEYS = {"val/psnr", "val/ssim", "test/psnr", "test/ssim", "test/noisy_psnr", "test/loss"}


def test_fast_dev_run(train_cfg):
    with open_dict(train_cfg):
        train_cfg.trainer.fast_dev_run = True
    metrics = train(train_cfg)
    assert METRIC_KEYS <= metrics.keys()
    assert 0 < metrics["test/psnr"] < 60 and -1 <= metrics["test/ssim"] <= 1


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
    assert {"train/loss_step", "train/loss_epoch", "val/loss", "val/psnr", "val/ssim", "test/psnr", "hp/val_psnr", "hp/test_psnr"} <= scalars
    assert "reconstructions" in events.Tags()["images"]


def test_last_checkpoint_follows_every_epoch_and_shares_the_best_ones_file(train_cfg):
    import torch

    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3
        train_cfg.callbacks.model_checkpoint.mode = "min"  # val/psnr rises on the fixture: only epoch 0 is "best"
        train_cfg.callbacks.classifier_report = None
    train(train_cfg)
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    last = folder / "last.ckpt"
    assert torch.load(best, weights_only=True)["epoch"] == 0
    assert torch.load(last, weights_only=True)["epoch"] == 2  # Lightning 2.6's save_last would have left epoch 0 here
    assert not best.samefile(last) and sorted(p.name for p in folder.iterdir()) == [best.name, "last.ckpt"]  # no temporary file left


def test_last_checkpoint_is_the_best_ones_file_when_the_epoch_improved(train_cfg):
    train(train_cfg)  # one epoch: its checkpoint is the best
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    assert best.samefile(folder / "last.ckpt")  # written once, linked


def test_best_and_last_checkpoint_refuses_save_last():
    from dae.callbacks import BestAndLastCheckpoint

    with pytest.raises(ValueError, match=r"save_last=True: BestAndLastCheckpoint always keeps last.ckpt; remove save_last"):
        BestAndLastCheckpoint(save_last=True)


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
    assert set(found["metrics"]) == {"hp/val_psnr", "hp/val_ssim", "hp/test_psnr", "hp/acc_clean", "hp/acc_noisy", "hp/acc_denoised", "hp/acc_reconstructed"}


def test_bad_data_stops_before_training(train_cfg, tmp_path):
    from dae.data import DataError

    with open_dict(train_cfg):
        train_cfg.data.source.files.train_labels.md5 = "0" * 32
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        train(train_cfg)
    assert not (Path(train_cfg.paths.output_dir) / "checkpoints").exists()


def test_same_seed_same_metrics_other_seed_other_metrics(fixture_data, tmp_path):
    from tests.conftest import compose_train, fixture_overrides

    def run(seed: int, name: str) -> dict:
        overrides = [*fixture_overrides(*fixture_data), "trainer.max_epochs=2", "trainer.limit_train_batches=4", f"seed={seed}", "callbacks.classifier_report=null"]
        metrics = train(compose_train(overrides, tmp_path / name))
        return {k: v for k, v in metrics.items() if k in METRIC_KEYS}

    first, second, other = run(3, "a"), run(3, "b"), run(4, "c")
    assert first == second  # identical, not merely close, on the CPU
    assert first != other


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(train_cfg, monkeypatch):
    import torch

    from dae.denoiser import Denoiser

    original = Denoiser.training_step

    def nan_from_step_6(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        return loss * float("nan") if self.trainer.global_step >= 6 else loss

    monkeypatch.setattr(Denoiser, "training_step", nan_from_step_6)
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3  # 4 batches an epoch: the NaN comes in the second epoch
    with pytest.raises(FloatingPointError, match=r"training loss is NaN at step 6 \(epoch 1, batch 2\).*last good checkpoint is .*last.ckpt"):
        train(train_cfg)
    state = torch.load(Path(train_cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_blind_mixed_noise_trains_and_tests(fixture_data, tmp_path):
    """noise=mixed: each image one of the four types at a level from its range, through the whole run."""
    from tests.conftest import compose_train, fixture_overrides

    overrides = [*fixture_overrides(*fixture_data), "noise=mixed", "trainer.max_epochs=1", "trainer.limit_train_batches=3", "callbacks.classifier_report=null"]
    metrics = train(compose_train(overrides, tmp_path / "job"))
    assert metrics["test/psnr"] > 0 and metrics["test/noisy_psnr"] > 0
