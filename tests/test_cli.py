"""The command line as a user types it: a subprocess per test."""

import json

import pytest

from tests.conftest import fixture_overrides, run_module


@pytest.mark.slow  # two short trainings in subprocesses (~30 s)
def test_loss_sweep_writes_one_job_folder_per_loss(fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module("dae.train", "-m", "loss=l1,mse", "trainer.fast_dev_run=true", f"hydra.sweep.dir={sweep}", *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 2 and jobs[0].startswith("loss=l1,") and jobs[1].startswith("loss=mse,"), jobs
    assert not any("md5" in job or "data_dir" in job for job in jobs), "location overrides stay out of folder names"
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert {"val/psnr", "test/psnr", "test/ssim", "test/noisy_psnr", "test/loss"} <= metrics.keys()
        assert (sweep / job / ".hydra" / "overrides.yaml").is_file()


def test_single_run_honours_run_dir(fixture_data, tmp_path):
    run = tmp_path / "run"
    done = run_module("dae.train", "trainer.fast_dev_run=true", f"hydra.run.dir={run}", *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "metrics.json").is_file() and (run / ".hydra" / "config.yaml").is_file()


@pytest.mark.parametrize("override, group, choices", [("loss=foo", "loss", ["l1", "mse", "smooth_l1"]), ("noise=bar", "noise", ["gaussian", "salt_pepper", "speckle", "periodic", "none"])])
def test_unknown_choice_lists_the_valid_ones(override, group, choices, tmp_path):
    done = run_module("dae.train", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode != 0
    assert f"Could not find '{group}/{override.split('=')[1]}'" in done.stderr
    for choice in choices:
        assert choice in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, message", [("noise.sigma=-0.5", "noise.sigma=-0.5 is out of range: allowed >= 0.0"), ("noise=salt_pepper noise.amount=1.2", "noise.amount=1.2 is out of range: allowed [0.0, 1.0]")])
def test_out_of_range_level_fails_before_any_work(override, message, tmp_path):
    done = run_module("dae.train", *override.split(), f"hydra.run.dir={tmp_path / 'run'}", "paths.data_dir=/nonexistent/dae-data")
    assert done.returncode != 0
    assert message in done.stderr
    assert "MNIST" not in done.stderr  # failed before looking for data
