"""Sweeps on a real single-node SLURM cluster (tests/slurm/cluster.sh brings it up, with Debian's slurm-wlm
and munge): the submitit launcher submits one SLURM job per sweep job, and a failing job is isolated as with
the basic launcher. Where the cluster cannot start, the tests are skipped with the reason."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, fixture_overrides, run_module
from tests.helpers import free_port, jobs_by_override

pytestmark = pytest.mark.slow  # a cluster and SLURM jobs: about a minute a sweep on 2 cores, 2.5 min for the requeue


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The environment of a running single-node cluster (SLURM_CONF), torn down afterwards."""
    folder = tmp_path_factory.mktemp("slurm")
    script = ROOT / "tests" / "slurm" / "cluster.sh"
    ports = {"DAE_SLURMCTLD_PORT": str(free_port()), "DAE_SLURMD_PORT": str(free_port())}
    up = subprocess.run(["bash", str(script), "up", str(folder)], capture_output=True, text=True, env={**os.environ, **ports}, timeout=300)
    lines = (up.stdout + up.stderr).strip().splitlines()
    if up.returncode != 0:
        pytest.skip(f"the SLURM tests need a single-node cluster, which did not start: {lines[-1] if lines else up.returncode}")
    # One thread a CPU that SLURM allocates, as a cluster that binds tasks to their CPUs gives them: here nothing binds
    # them, and two one-CPU jobs of two threads each on 2 cores slowed each other up to four times over.
    yield {"SLURM_CONF": str(folder / "slurm.conf"), "OMP_NUM_THREADS": "1"}
    subprocess.run(["bash", str(script), "down", str(folder)], timeout=60)


def sweep(slurm, fixture_data, folder: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = ["-m", "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={folder}", "debug=fast", *overrides, *fixture_overrides(*fixture_data)]
    return run_module("dae.train", *args, env=slurm, timeout=600)


def test_a_sweep_submits_one_slurm_job_per_job(slurm, fixture_data, tmp_path):
    result = sweep(slurm, fixture_data, tmp_path / "sweep", "loss=l1,mse")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = jobs_by_override(tmp_path / "sweep", 1)
    assert sorted(jobs) == ["loss=l1", "loss=mse"]
    for job in jobs.values():
        assert (job / "metrics.json").is_file() and (job / "checkpoints" / "last.ckpt").is_file()
    tasks = sorted(p for p in (tmp_path / "sweep" / ".submitit").glob("*_*") if p.is_dir())  # <SLURM job id>_<index>: one per sweep job
    assert len(tasks) == 2
    for task in tasks:
        assert (task / f"{task.name}_0_result.pkl").is_file()
        log = (task / f"{task.name}_0_log.out").read_text() + (task / f"{task.name}_0_log.err").read_text()
        assert "Exiting after successful completion" in log and "SLURM auto-requeueing enabled" in log  # Lightning saw SLURM


def test_a_failing_slurm_job_is_isolated_as_with_the_basic_launcher(slurm, fixture_data, tmp_path):
    result = sweep(slurm, fixture_data, tmp_path / "sweep", "noise.sigma=0.5,-1")
    assert result.returncode == 1
    jobs = jobs_by_override(tmp_path / "sweep", 1)
    failed, finished = jobs["noise.sigma=-1"], jobs["noise.sigma=0.5"]
    assert f"1 of 2 jobs failed: {failed.name} (see error.txt in each)" in result.stderr
    assert (failed / "error.txt").read_text().startswith("ConfigError: noise.sigma=-1.0 is out of range")
    assert (finished / "metrics.json").is_file()


def test_a_search_runs_its_trials_as_slurm_jobs_and_resumes_without_training_them_again(slurm, fixture_data, tmp_path):
    import json

    search = tmp_path / "search"
    result = sweep(slurm, fixture_data, search, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2")
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = jobs_by_override(search, 1)
    assert len(jobs) == 2 and (search / "optimization_results.yaml").is_file()
    tasks = {p for p in (search / ".submitit").glob("*_*") if p.is_dir()}
    assert len(tasks) == 2  # one SLURM job per trial: <array job id>_<index>
    seconds = {name: json.loads((job / "metrics.json").read_text())["train_seconds"] for name, job in jobs.items()}
    again = run_module("dae.train", "-m", f"resume={search}", env=slurm, timeout=600)  # the launcher comes from the folder
    assert again.returncode == 0, again.stderr[-2000:]
    resubmitted = {p for p in (search / ".submitit").glob("*_*") if p.is_dir()} - tasks
    logs = "".join((p / f"{p.name}_0_log.{kind}").read_text() for p in resubmitted for kind in ("out", "err"))
    assert len(resubmitted) == 2 and logs.count("finished before: skipped") == 2  # each trial's job ran, and skipped
    assert {name: json.loads((job / "metrics.json").read_text())["train_seconds"] for name, job in jobs.items()} == seconds


def test_ddp_takes_its_two_ranks_from_slurm_tasks_and_ends_with_one_job_and_the_same_weights(slurm, fixture_data, tmp_path):
    """hydra.launcher.tasks_per_node=2 trainer=ddp_cpu: SLURM starts both processes, Lightning reads their ranks
    from SLURM and starts none of its own; rank zero alone writes the job's files."""
    digests = tmp_path / "digests"
    digests.mkdir()
    overrides = ["hydra.launcher.tasks_per_node=2", "trainer=ddp_cpu", "+callbacks.digest._target_=tests.helpers.RankDigest"]
    result = sweep(slurm, fixture_data, tmp_path / "sweep", *overrides, f"+callbacks.digest.folder={digests}")
    assert result.returncode == 0, result.stderr[-2000:]
    (job,) = jobs_by_override(tmp_path / "sweep", 1).values()
    assert (job / "metrics.json").is_file() and len(list((job / "checkpoints").glob("best-*.ckpt"))) == 1
    assert (digests / "weights_rank0.txt").read_text() == (digests / "weights_rank1.txt").read_text()
    (task,) = [p for p in (tmp_path / "sweep" / ".submitit").iterdir() if p.is_dir()]  # one SLURM job, two tasks
    logs = [(task / f"{task.name}_{rank}_log.err").read_text() for rank in (0, 1)]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in logs[1] and "Starting with 2 processes" in logs[0]


def test_a_requeued_slurm_job_continues_from_its_last_checkpoint_to_the_same_metrics(slurm, fixture_data, tmp_path):
    """SIGUSR1, SLURM's warning before a time limit (sbatch --signal): Lightning's SLURM handler saves its checkpoint
    and runs scontrol requeue, as a preemption does; SLURM stops the job (SIGTERM) and starts it again, and the job
    continues from its last full epoch instead of starting over."""
    import json
    import sys
    import time

    args = ["loss=l1", "trainer.max_epochs=4", "~debug"]
    whole = sweep(slurm, fixture_data, tmp_path / "whole", *args)
    assert whole.returncode == 0, whole.stderr[-2000:]
    command = [
        sys.executable,
        "-m",
        "dae.train",
        "-m",
        "hydra/launcher=submitit_slurm",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "debug=fast",
    ]
    process = subprocess.Popen(
        [*command, *args, *fixture_overrides(*fixture_data)], cwd=ROOT, env={**os.environ, **slurm},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((tmp_path / "sweep").glob("*/checkpoints/last.ckpt")):
        time.sleep(0.02)
    env = {**os.environ, **slurm}
    (job_id,) = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["scancel", "--signal=USR1", job_id], env=env, check=True)
    # SLURM holds a requeued job back for about two minutes (its BeginTime) before it may start again; the test
    # makes it eligible at once, as an administrator can, so that it waits for the requeue and not for the clock.
    while time.monotonic() < deadline and process.poll() is None:
        state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], env=env, capture_output=True, text=True).stdout.split()
        if state[:2] == ["PENDING", "BeginTime"]:
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=env, check=True)
            break
        time.sleep(0.2)
    assert process.wait(timeout=600) == 0
    (job,) = jobs_by_override(tmp_path / "sweep", 1).values()
    (reference,) = jobs_by_override(tmp_path / "whole", 1).values()
    got, want = (json.loads((folder / "metrics.json").read_text()) for folder in (job, reference))
    assert got["epochs"] == want["epochs"] == 4
    assert all(abs(got[k] - want[k]) <= 1e-5 for k in ("val/psnr", "val/loss", "test/psnr", "test/ssim")), (got, want)
    restarted = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
    assert "Restarts=1" in restarted
    assert f"from {job / 'checkpoints' / 'last.ckpt'}" in (job / "train.log").read_text()  # continued, not started over
    (task,) = [p for p in (tmp_path / "sweep" / ".submitit").iterdir() if p.is_dir()]
    log = (task / f"{task.name}_0_log.err").read_text()
    assert "Handling auto-requeue signal" in log and "Requeued SLURM job" in log  # Lightning's handler requeued it
