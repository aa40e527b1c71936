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

pytestmark = pytest.mark.slow  # one uninterrupted sweep of three two-epoch jobs, then per launcher a killed sweep and its resume

KEYS = ("val/psnr", "val/ssim", "val/loss", "test/psnr", "test/ssim", "test/loss")
# One thread in every process, as joblib's workers get on 2 cores: a job's numbers then do not depend on the launcher
# (torch sums in another order with another thread count, and the fixture's short jobs show it).
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def sweep_args(fixture_data, launcher: str) -> list[str]:
    return ["loss=l1,mse,smooth_l1", "trainer.max_epochs=2", f"hydra/launcher={launcher}", *fixture_overrides(*fixture_data)]


@pytest.fixture(scope="module")
def uninterrupted(fixture_data, tmp_path_factory):
    """The sweep run through, once, for every launcher's resumed sweep to match."""
    whole = tmp_path_factory.mktemp("whole") / "sweep"
    done = run_module("dae.train", "-m", *sweep_args(fixture_data, "basic"), f"hydra.sweep.dir={whole}", env=ONE_THREAD)
    assert done.returncode == 0, done.stderr[-2000:]
    return jobs_by_override(whole)


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_sweep_killed_in_its_second_job_resumes_to_the_metrics_of_an_uninterrupted_one(launcher, uninterrupted, fixture_data, tmp_path):
    """The basic launcher runs the jobs one after another; joblib's runs two at a time in worker processes,
    all of them killed with the sweep. The resume reads the launcher from the sweep folder."""
    args = sweep_args(fixture_data, launcher)
    sweep = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "dae.train", "-m", *args, f"hydra.sweep.dir={sweep}"], cwd=ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HYDRA_FULL_ERROR": "0", **ONE_THREAD},
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:  # until one job has finished and another is mid-way
        jobs = jobs_by_override(sweep) if sweep.is_dir() else {}
        finished = {n for n, f in jobs.items() if (f / "metrics.json").is_file()}
        if finished and any((f / "checkpoints" / "last.ckpt").is_file() for n, f in jobs.items() if n not in finished):
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # as a lost node or the OOM killer would: no chance to save anything
    process.wait()
    jobs = jobs_by_override(sweep)
    finished = {n: f for n, f in jobs.items() if (f / "metrics.json").is_file()}
    assert finished and len(finished) < 3  # the basic launcher: loss=l1; joblib: one or both of the first two
    checkpoints = {n: {p.name: p.stat().st_mtime_ns for p in (f / "checkpoints").iterdir()} for n, f in finished.items()}
    seconds = {n: metrics(f)["train_seconds"] for n, f in finished.items()}

    resumed = run_module("dae.train", "-m", f"resume={sweep}", env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    jobs, reference = jobs_by_override(sweep), uninterrupted
    assert set(jobs) == set(reference) == {"loss=l1", "loss=mse", "loss=smooth_l1"}
    for name, folder in jobs.items():
        got, want = metrics(folder), metrics(reference[name])
        assert all(abs(got[k] - want[k]) <= 1e-5 for k in KEYS), (name, {k: (got[k], want[k]) for k in KEYS})
    assert {n: metrics(f)["train_seconds"] for n, f in finished.items()} == seconds  # finished jobs were not trained again
    assert {n: {p.name: p.stat().st_mtime_ns for p in (f / "checkpoints").iterdir()} for n, f in finished.items()} == checkpoints
    assert "finished before: skipped" in resumed.stderr + resumed.stdout and "resuming" in resumed.stderr + resumed.stdout
