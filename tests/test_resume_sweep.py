"""python -m dae.train -m resume=<sweep folder>: a sweep killed during its second job ends as if never stopped."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, fixture_overrides, run_module
from tests.helpers import jobs_by_override

pytestmark = pytest.mark.slow  # three sweeps of three two-epoch jobs, in subprocesses: about a minute

KEYS = ("val/psnr", "val/ssim", "val/loss", "test/psnr", "test/ssim", "test/loss")


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_a_sweep_killed_in_its_second_job_resumes_to_the_metrics_of_an_uninterrupted_one(fixture_data, tmp_path):
    args = ["loss=l1,mse,smooth_l1", "trainer.max_epochs=2", *fixture_overrides(*fixture_data)]
    whole = run_module("dae.train", "-m", *args, f"hydra.sweep.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-2000:]
    sweep = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "dae.train", "-m", *args, f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        second = jobs_by_override(sweep).get("loss=mse") if sweep.is_dir() else None
        if second is not None and (second / "checkpoints" / "last.ckpt").is_file():
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # as a lost node or the OOM killer would: no chance to save anything
    process.wait()
    jobs = jobs_by_override(sweep)
    assert set(jobs) == {"loss=l1", "loss=mse"} and not (jobs["loss=mse"] / "metrics.json").exists()
    first = jobs["loss=l1"]
    checkpoints = {p.name: p.stat().st_mtime_ns for p in (first / "checkpoints").iterdir()}
    seconds = metrics(first)["train_seconds"]

    resumed = run_module("dae.train", "-m", f"resume={sweep}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    jobs, reference = jobs_by_override(sweep), jobs_by_override(tmp_path / "whole")
    assert set(jobs) == set(reference) == {"loss=l1", "loss=mse", "loss=smooth_l1"}
    for name, folder in jobs.items():
        got, want = metrics(folder), metrics(reference[name])
        assert all(abs(got[k] - want[k]) <= 1e-5 for k in KEYS), (name, {k: (got[k], want[k]) for k in KEYS})
    assert metrics(first)["train_seconds"] == seconds  # the first job was not trained again
    assert {p.name: p.stat().st_mtime_ns for p in (first / "checkpoints").iterdir()} == checkpoints
    assert "finished before: skipped" in resumed.stderr + resumed.stdout and "resuming" in resumed.stderr + resumed.stdout
