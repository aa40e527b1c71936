"""dae.job_folder: a job folder belongs to one run; a second run into it, or a new run into a finished or stopped
job, is refused before anything is written there."""

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from dae.job_folder import claim_run, claim_sweep, release
from dae.train import main
from tests.claimer import claim
from tests.conftest import fixture_overrides, run_app


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def refusal(*args: str) -> str:
    with pytest.raises(SystemExit) as refused:
        run_app(main, *args)
    return str(refused.value.code)


@pytest.fixture
def holder():
    """A process that holds the lock on a folder, as a running job does, until the test ends."""
    started = []

    def hold(folder: Path) -> None:
        code = f"import fcntl, os, sys, time; fd = os.open({str(folder)!r}, os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "held"
        started.append(process)

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_new_run_into_a_finished_job_is_refused_and_the_job_is_left_as_it_was(job_copy, fixture_data):
    before = snapshot(job_copy)
    message = refusal(f"hydra.run.dir={job_copy}", "loss=mse", "seed=7", *fixture_overrides(*fixture_data))
    assert message == (
        f"error: hydra.run.dir={job_copy} holds a finished job (metrics.json); a new run there would mix with it: choose another "
        "folder (hydra.run.dir=<new folder>, or leave it out for a fresh outputs/runs/<time>)."
    )
    assert snapshot(job_copy) == before


def test_a_new_run_into_a_stopped_job_offers_resume(job_copy, fixture_data):
    (job_copy / "metrics.json").unlink()
    before = snapshot(job_copy)
    message = refusal(f"hydra.run.dir={job_copy}", *fixture_overrides(*fixture_data))
    assert (
        f"hydra.run.dir={job_copy} holds a job that did not finish; continue it with resume={job_copy}, or choose another folder" in message
    )
    assert snapshot(job_copy) == before


def test_a_job_in_use_is_neither_joined_nor_resumed(job_copy, fixture_data, holder):
    (job_copy / "metrics.json").unlink()
    holder(job_copy / ".hydra")
    before = snapshot(job_copy)
    assert f"hydra.run.dir={job_copy} is in use by another run; wait for it to end" in refusal(
        f"hydra.run.dir={job_copy}", *fixture_overrides(*fixture_data)
    )
    assert refusal(f"resume={job_copy}") == f"error: resume={job_copy} is in use: another run is training in it; wait for that run to end."
    assert snapshot(job_copy) == before


def test_of_runs_started_together_into_one_folder_exactly_one_claims_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=claim, args=(str(tmp_path / "run"), start, results)) for _ in range(4)]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join()
    assert outcomes.count("claimed") == 1, outcomes
    assert all("is in use by another run" in o or "holds a job that did not finish" in o for o in outcomes if o != "claimed")


def test_a_fresh_or_empty_folder_is_claimed_and_a_resume_may_follow(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "new" / "run", tmp_path / "empty"):
        claim_run(folder)
        assert (folder / ".hydra").is_dir()
        release()
        claim_run(folder, resume=True)  # the run has ended: its job may be resumed
        release()


def test_a_new_sweep_into_a_sweep_folder_is_refused_and_a_resumed_one_is_not(tmp_path, holder):
    sweep = tmp_path / "sweep"
    claim_sweep(sweep, resuming=False)
    release()
    (sweep / "multirun.yaml").write_text("{}")
    with pytest.raises(
        ValueError, match=f"hydra.sweep.dir={sweep} holds a sweep already \\(multirun.yaml\\); continue it with -m resume={sweep}"
    ):
        claim_sweep(sweep, resuming=False)
    claim_sweep(sweep, resuming=True)
    release()
    holder(sweep)
    with pytest.raises(ValueError, match=f"hydra.sweep.dir={sweep} is in use by another sweep"):
        claim_sweep(sweep, resuming=True)


def test_a_new_sweep_into_a_sweeps_folder_is_refused_before_any_job(tmp_path, fixture_data):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}")
    message = refusal("-m", f"hydra.sweep.dir={sweep}", "loss=l1,mse", *fixture_overrides(*fixture_data))
    assert message.startswith(f"error: hydra.sweep.dir={sweep} holds a sweep already (multirun.yaml); continue it with -m resume={sweep}")
    assert [p.name for p in sweep.iterdir()] == ["multirun.yaml"]


@pytest.mark.parametrize(
    "args, line",
    [
        (["hydra.run.dir=/proc/dae/run"], "error: hydra.run.dir=/proc/dae/run cannot be made (FileNotFoundError: "),
        (["paths.log_dir=/proc/dae"], "error: paths.log_dir=/proc/dae/runs/"),
        (["-m", "hydra.sweep.dir=/proc/dae/sweep", "loss=l1,mse"], "error: hydra.sweep.dir=/proc/dae/sweep cannot be made ("),
        (["hydra.run.dir={tmp}/" + "x" * 300], "error: hydra.run.dir={tmp}/xxx"),
    ],
    ids=["run folder", "log folder", "sweep folder", "a name over 255 bytes"],
)
def test_an_output_folder_that_cannot_be_made_is_one_line_before_any_work(args, line, tmp_path):
    # /proc takes no new folders, even from root: a real folder that cannot be written to
    message = refusal(*(a.format(tmp=tmp_path) for a in args))
    assert message.startswith(line.format(tmp=tmp_path)) and "\n" not in message
    assert message.endswith("at a folder you can write to.") or message.endswith("file systems allow 255: use a shorter name.")
