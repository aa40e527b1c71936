"""dae.train on the command line as a user types it, a subprocess per test: sweeps, launchers, signals, resuming."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT, fixture_overrides, run_module

pytestmark = pytest.mark.slow  # each test starts one or more training processes


def train_command(run, *overrides: str) -> list[str]:
    """``python -m dae.train hydra.run.dir=<run> <overrides>``, as a list for subprocess.Popen."""
    return [sys.executable, "-m", "dae.train", f"hydra.run.dir={run}", *overrides]


def test_loss_sweep_writes_one_job_folder_per_loss(fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "dae.train", "-m", "loss=l1,mse", "trainer.fast_dev_run=true", f"hydra.sweep.dir={sweep}", *fixture_overrides(*fixture_data)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(jobs) == 2 and jobs[0].startswith("loss=l1,") and jobs[1].startswith("loss=mse,"), jobs
    assert not any("md5" in job or "data_dir" in job for job in jobs), "location overrides stay out of folder names"
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert {"val/psnr", "test/psnr", "test/ssim", "test/noisy_psnr", "test/loss"} <= metrics.keys()
        assert (sweep / job / ".hydra" / "overrides.yaml").is_file()


def test_failing_sweep_job_is_recorded_and_the_others_run(fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "dae.train", "-m", "noise.sigma=-1,0.3", "trainer.fast_dev_run=true", f"hydra.sweep.dir={sweep}", *fixture_overrides(*fixture_data)
    )
    assert done.returncode == 1
    folders = {p: (p / ".hydra" / "overrides.yaml").read_text() for p in sweep.iterdir() if p.is_dir()}  # names are cut: many overrides
    (bad,) = [p for p, overrides in folders.items() if "noise.sigma=-1" in overrides]
    (good,) = [p for p, overrides in folders.items() if "noise.sigma=0.3" in overrides]
    assert (good / "metrics.json").is_file() and not (good / "error.txt").exists()  # the job after the failure ran
    error = (bad / "error.txt").read_text().splitlines()
    assert error[0] == "ConfigError: noise.sigma=-1.0 is out of range: allowed >= 0.0; set noise.sigma=<value in that range>."
    assert any("Traceback" in line for line in error)
    assert f"sweep {sweep}: 1 of 2 jobs failed: {bad.name} (see error.txt in each)" in done.stderr


def test_joblib_launcher_runs_a_sweep_in_parallel_processes(fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "dae.train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "loss=l1,mse",
        "trainer.fast_dev_run=true",
        f"hydra.sweep.dir={sweep}",
        *fixture_overrides(*fixture_data),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in done.stdout + done.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.split(",")[0] for p in jobs] == ["loss=l1", "loss=mse"]
    assert all((p / "metrics.json").is_file() for p in jobs)


def test_ctrl_c_saves_a_checkpoint_and_exits(fixture_data, tmp_path):
    run = tmp_path / "run"
    args = train_command(run, "trainer.max_epochs=1000", "callbacks.classifier_report=null", *fixture_overrides(*fixture_data))
    log = tmp_path / "output.txt"
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the run before its first checkpoint
        # SIGINT back to its default in the child: a shell starts background jobs (e.g. CI) with SIGINT ignored,
        # and Python then installs no KeyboardInterrupt handler
        restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
        process = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, preexec_fn=restore)
        try:
            deadline = time.time() + 180
            while not (run / "checkpoints" / "last.ckpt").is_file() and time.time() < deadline:
                time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        finally:
            process.kill()  # never leave a 1000-epoch run behind, whatever happened
    output = log.read_text()
    assert process.returncode == 1, output[-2000:]
    assert (run / "checkpoints" / "interrupted.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert "saved" in output and "interrupted.ckpt" in output


def test_run_killed_in_its_second_epoch_resumes_to_the_same_metrics(fixture_data, tmp_path):
    common = ["trainer.max_epochs=6", "callbacks.classifier_report=null", *fixture_overrides(*fixture_data)]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = run_module("dae.train", f"hydra.run.dir={whole}", *common)
    assert done.returncode == 0, done.stderr[-3000:]

    process = subprocess.Popen(
        train_command(killed, *common),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "last.ckpt").is_file() and time.time() < deadline:  # the first epoch has ended
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and not (killed / "metrics.json").exists()

    # The checkpoint carries the time trained so far; the resumed run adds its own to it. (Set to 1000 s
    # here, so that the sum cannot be mistaken for the resumed part alone.)
    last = killed / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert 0 < checkpoint["train_seconds"] < 120
    torch.save({**checkpoint, "train_seconds": 1000.0}, last)
    done = run_module("dae.train", f"resume={killed}")  # no other override: the job's own config
    assert done.returncode == 0, done.stderr[-3000:]
    first, resumed = (json.loads((folder / "metrics.json").read_text()) for folder in (whole, killed))
    for key in ("val/psnr", "test/psnr", "test/ssim", "test/loss"):
        assert resumed[key] == pytest.approx(first[key], abs=1e-5), key
    assert resumed["epochs"] == first["epochs"] == 6
    assert resumed["train_seconds"] > 1000


def test_two_runs_started_together_into_one_folder_one_trains_and_one_is_refused(fixture_data, tmp_path):
    run = tmp_path / "run"
    args = train_command(run, "debug=fast", "callbacks.classifier_report=null", *fixture_overrides(*fixture_data))
    processes = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read()) for p in processes)
    for p in processes:
        p.stdout.close(), p.stderr.close()
    (ok, _), (refused, error) = outcomes
    assert (ok, refused) == (0, 1), outcomes
    assert f"error: hydra.run.dir={run} is in use by another run" in error or f"error: hydra.run.dir={run} holds a" in error
    assert len({p.name.split(".")[-2] for p in run.rglob("events.out.tfevents.*")}) == 1  # one process's (its pid) event files
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    assert "train.log" in {p.name for p in run.iterdir()} and (run / "metrics.json").is_file()
