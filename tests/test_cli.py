"""dae.cli: the project's own errors end a command as one line, and the command line reaches Hydra intact."""

import os
import subprocess
import sys

import pytest

from dae.cli import discard_setup, one_line_errors, prepare_argv, user_error
from dae.errors import ConfigError, DataError, JobError
from tests.conftest import ROOT, fixture_overrides


def test_path_values_with_equals_signs_are_quoted_and_verbose_asks_for_tracebacks(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # and put back as it was after the test
    argv = ["prog", "run=outputs/multirun/t/loss=l1", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path", "--verbose"]
    assert prepare_argv(argv) == ["prog", "run='outputs/multirun/t/loss=l1'", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]
    assert prepare_argv(["runs=[out/m/t/loss=l1,out/runs/a]", "input=it's=here"]) == [
        "runs=['out/m/t/loss=l1',out/runs/a]",
        'input="it\'s=here"',
    ]
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_paths_that_hydras_parser_would_misread_are_quoted_and_read_back_as_given():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    given = ["hydra.run.dir=outputs/café", "input=/data/日本/7.png", "paths.data_dir=/tmp/a#b", "++paths.log_dir=~x/y", "output=plain/out"]
    prepared = prepare_argv(given)
    assert prepared[-1] == "output=plain/out"  # nothing to quote
    assert [parser.parse_override(arg).value() for arg in prepared] == [arg.partition("=")[2] for arg in given]


def test_a_run_into_a_folder_with_a_non_ascii_name(fixture_data, tmp_path):
    from dae.train import main
    from tests.conftest import fixture_overrides, run_app

    folder = tmp_path / "runs" / "café-日本"
    run_app(
        main,
        *prepare_argv([f"hydra.run.dir={folder}", "debug=fast", "callbacks.classifier_report=null", *fixture_overrides(*fixture_data)]),
    )
    assert (folder / ".hydra" / "config.yaml").is_file() and (folder / "metrics.json").is_file()


def test_the_projects_errors_are_found_inside_hydras_wrapping():
    from hydra.errors import InstantiationException

    cause = ConfigError("noise.sigma=-1.0 is out of range")
    wrapped = InstantiationException("Error in call to target 'dae.noise.Gaussian'")
    wrapped.__cause__ = cause
    assert user_error(wrapped) is cause
    assert user_error(DataError("x")) is not None and user_error(JobError("x")) is not None
    assert user_error(RuntimeError("a bug")) is None
    assert user_error(ValueError("too many values to unpack")) is None  # a library's ValueError keeps its traceback


def setup_folder(folder):
    """A folder as Hydra leaves it before the job starts: .hydra/'s three files and the job's log."""
    (folder / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (folder / ".hydra" / name).write_text("{}")
    (folder / "app.log").write_text("")
    return folder


def test_one_line_errors_exit_with_the_message_and_remove_a_folder_with_nothing_but_setup(tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: OmegaConf.create({"job": {"name": "app"}})))
    job = setup_folder(tmp_path / "job")
    with pytest.raises(SystemExit) as exit, one_line_errors(job):
        raise ConfigError("data.batch_size='abc' is not an integer")
    assert exit.value.code == "error: data.batch_size='abc' is not an integer"
    assert not job.exists()

    kept = setup_folder(tmp_path / "kept")
    (kept / "checkpoints").mkdir()
    (kept / "checkpoints" / "last.ckpt").write_text("")
    with pytest.raises(SystemExit), one_line_errors(kept):
        raise DataError("missing")
    assert (kept / "checkpoints" / "last.ckpt").is_file() and (kept / ".hydra" / "config.yaml").is_file()  # work in it: all kept

    failed = setup_folder(tmp_path / "failed")
    with pytest.raises(RuntimeError), one_line_errors(failed):  # a bug keeps its traceback, and the empty set-up goes
        raise RuntimeError("a bug")
    assert not failed.exists()
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    verbose = setup_folder(tmp_path / "verbose")
    with pytest.raises(JobError), one_line_errors(verbose):  # --verbose: the traceback, and no folder left either
        raise JobError("bad")
    assert not verbose.exists()


def test_a_folder_that_held_something_before_the_command_or_is_where_it_runs_is_never_removed(tmp_path, monkeypatch):
    import time

    old = setup_folder(tmp_path / "old")
    then = time.time() - 3600
    os.utime(old / "app.log", (then, then))  # an earlier command's log
    discard_setup(old)
    assert (old / "app.log").is_file()
    other = setup_folder(tmp_path / "other")
    (other / "notes.log").write_text("another program's log")
    discard_setup(other)
    assert (other / "notes.log").is_file() and (other / ".hydra" / "config.yaml").is_file()
    here = setup_folder(tmp_path / "here")
    monkeypatch.chdir(here)
    discard_setup(here)  # hydra.run.dir=. : the working directory itself
    assert (here / ".hydra" / "config.yaml").is_file()


CASES = [
    ("dae.train", ["noise.sigma=-1"], "error: noise.sigma=-1.0 is out of range: allowed >= 0.0; set noise.sigma=<value in that range>."),
    ("dae.train", ["seed=abc"], "error: seed='abc' is not an integer; set seed=<an integer>."),
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
    assert not outputs.exists() or not [
        p for p in outputs.rglob("*") if p.is_file() or p.name[:2] == "20"
    ]  # no job folder (<date>_<time>) left
    if args == ["noise.sigma=-1"]:  # --verbose is dae.cli's, shared by every command: one process per case would check it again
        verbose = subprocess.run(
            [sys.executable, "-m", module, *args, *extra, "--verbose"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
        )
        assert "Traceback" in verbose.stderr


def test_the_error_handling_and_the_job_folder_lock_do_not_import_lightning():
    # a command's error path and the job-folder lock run before any training: they stay quick to import
    code = "import sys, dae.cli, dae.job_folder; print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]


def test_a_sigterm_outside_training_still_ends_with_status_143():
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with pytest.raises(SystemExit) as exit, one_line_errors():
        raise SIGTERMException  # Lightning's, a SystemExit with status 0
    assert exit.value.code == 143


def test_a_run_that_fails_on_a_corrupted_data_file_leaves_no_job_folder(tmp_path):
    from dae.train import main
    from tests.conftest import fixture_overrides, run_app, write_fixture

    md5s = write_fixture(tmp_path / "data")
    images = tmp_path / "data" / "train-images-idx3-ubyte"
    damaged = bytearray(images.read_bytes())
    damaged[100] ^= 0xFF
    images.write_bytes(bytes(damaged))
    with pytest.raises(SystemExit) as failed:
        run_app(main, f"hydra.run.dir={tmp_path / 'run'}", "callbacks.classifier_report=null", *fixture_overrides(tmp_path / "data", md5s))
    assert f"error: {images}: MD5" in str(failed.value.code)
    assert not (tmp_path / "run").exists()  # its .hydra/, train.log and event file went with it
