"""dae.cli: the project's own errors end a command as one line, and the command line reaches Hydra intact."""

import os
import subprocess
import sys

import pytest

from dae.cli import one_line_errors, only_setup, prepare_argv, user_error
from dae.data import DataError
from dae.jobs import JobError
from tests.conftest import ROOT, fixture_overrides


def test_path_values_with_equals_signs_are_quoted_and_verbose_asks_for_tracebacks(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # and put back as it was after the test
    argv = ["prog", "run=outputs/multirun/t/loss=l1", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path", "--verbose"]
    assert prepare_argv(argv) == ["prog", "run='outputs/multirun/t/loss=l1'", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_the_projects_errors_are_found_inside_hydras_wrapping():
    from hydra.errors import InstantiationException

    cause = ValueError("noise.sigma=-1.0 is out of range")
    wrapped = InstantiationException("Error in call to target 'dae.noise.Gaussian'")
    wrapped.__cause__ = cause
    assert user_error(wrapped) is cause
    assert user_error(DataError("x")) is not None and user_error(JobError("x")) is not None
    assert user_error(RuntimeError("a bug")) is None


def test_one_line_errors_exit_with_the_message_and_remove_a_folder_with_nothing_but_setup(tmp_path, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    job = tmp_path / "job"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("{}")
    (job / "train.log").write_text("")
    assert only_setup(job)
    with pytest.raises(SystemExit) as exit, one_line_errors(job):
        raise ValueError("data.batch_size='abc' is not an integer; set data.batch_size=<an integer>.")
    assert exit.value.code == "error: data.batch_size='abc' is not an integer; set data.batch_size=<an integer>."
    assert not job.exists()

    kept = tmp_path / "kept"
    (kept / "checkpoints").mkdir(parents=True)
    (kept / "checkpoints" / "last.ckpt").write_text("")
    with pytest.raises(SystemExit), one_line_errors(kept):
        raise DataError("missing")
    assert (kept / "checkpoints" / "last.ckpt").is_file()  # a folder with work in it is never removed

    with pytest.raises(RuntimeError), one_line_errors(kept):  # a bug keeps its traceback
        raise RuntimeError("a bug")
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ValueError), one_line_errors(kept):  # --verbose: the traceback
        raise ValueError("bad")


CASES = [
    ("dae.train", ["noise.sigma=-1"], "error: noise.sigma=-1.0 is out of range: allowed >= 0.0; set noise.sigma=<value in that range>."),
    ("dae.train", ["seed=abc"], "error: seed='abc' is not an integer; set seed=<an integer>, e.g. seed=0."),
    (
        "dae.probe",
        ["run={tmp}/nowhere"],
        "error: run={tmp}/nowhere does not exist; expected a job folder such as outputs/runs/<time> or outputs/multirun/<time>/<overrides>.",
    ),
    (
        "dae.baselines",
        ["+methods.magic={{}}"],
        "error: methods: unknown ['magic']; known: ['bm3d', 'gaussian', 'identity', 'median', 'nl_means', 'total_variation', 'wavelet']. Remove it with ~methods.magic.",
    ),
    (
        "dae.report",
        ["{tmp}"],
        "error: {tmp} is not a sweep folder (no multirun.yaml); pass a folder written by `python -m dae.train ... -m`, such as outputs/multirun/<time>.",
    ),
]


@pytest.mark.slow  # a process per command, as a user starts it
@pytest.mark.parametrize("module, args, last", CASES, ids=[f"{m}:{a[0]}" for m, a, _ in CASES])
def test_the_error_is_the_last_and_only_thing_printed_and_no_folder_is_left(module, args, last, fixture_data, tmp_path):
    args = [a.format(tmp=tmp_path) for a in args]
    extra = [] if module == "dae.report" else [f"paths.log_dir={tmp_path / 'outputs'}", *fixture_overrides(*fixture_data)[:1]]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    done = subprocess.run([sys.executable, "-m", module, *args, *extra], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode in (1, 2)
    assert done.stderr.strip().splitlines()[-1] == last.format(tmp=tmp_path)
    assert "Traceback" not in done.stderr
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not [p for p in outputs.rglob("*") if p.is_file()]  # no job folder left behind
    verbose = subprocess.run(
        [sys.executable, "-m", module, *args, *extra, "--verbose"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )
    assert "Traceback" in verbose.stderr


def test_a_folder_that_held_something_before_the_command_or_is_where_it_runs_is_never_removed(tmp_path, monkeypatch):
    import os
    import time

    old = tmp_path / "old"
    (old / ".hydra").mkdir(parents=True)
    (old / "train.log").write_text("an earlier command's log")
    then = time.time() - 3600
    os.utime(old / "train.log", (then, then))
    assert not only_setup(old)  # written before this command started
    here = tmp_path / "here"
    (here / ".hydra").mkdir(parents=True)
    monkeypatch.chdir(here)
    assert not only_setup(here)  # hydra.run.dir=. : the working directory itself
