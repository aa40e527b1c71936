"""dae.sweep: a failing sweep job writes error.txt, the others go on, and the sweep names it at the end."""

import pytest
from omegaconf import OmegaConf

from dae.sweep import ERROR_FILE, SweepSummary, failed_jobs, record_failure, root_cause


def test_error_from_a_spawned_process_is_named_by_its_own_last_line():
    error = RuntimeError(
        "\n\n-- Process 0 terminated with the following error:\nTraceback (most recent call last):\n  File x\nFileNotFoundError: [Errno 2] No such file: 'a'\n"
    )
    assert root_cause(error) == "FileNotFoundError: [Errno 2] No such file: 'a'"
    assert root_cause(ValueError("noise.sigma=-1.0 is out of range\nmore")) == "ValueError: noise.sigma=-1.0 is out of range"


def job_folder(sweep, name):
    folder = sweep / name / ".hydra"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("{}\n")
    (folder / "hydra.yaml").write_text("{}\n")
    return sweep / name


def test_failed_jobs_are_recorded_and_the_sweep_exits_naming_them(tmp_path, capsys):
    ok, bad = job_folder(tmp_path, "loss=l1"), job_folder(tmp_path, "loss=mse")
    try:
        raise ValueError("noise.sigma=-1.0 is out of range")
    except ValueError as error:
        record_failure(bad, error)
    lines = (bad / ERROR_FILE).read_text().splitlines()
    assert lines[0] == "ValueError: noise.sigma=-1.0 is out of range" and lines[2].startswith("Traceback")
    assert failed_jobs(tmp_path) == [bad]
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with pytest.raises(SystemExit) as exit:
        SweepSummary().on_multirun_end(config)
    assert exit.value.code == 1
    assert f"sweep {tmp_path}: 1 of 2 jobs failed: loss=mse (see error.txt in each)" in capsys.readouterr().err
    (bad / ERROR_FILE).unlink()
    SweepSummary().on_multirun_end(config)  # nothing failed: no exit
    assert ok.is_dir()


def test_a_slurm_launcher_without_slurm_is_one_line_before_any_folder(tmp_path, monkeypatch, capsys):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    config = OmegaConf.create(
        {"hydra": {"launcher": {"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"}}}
    )
    with pytest.raises(SystemExit) as exit:
        SweepSummary().on_multirun_start(config)
    assert exit.value.code == 1
    assert "error: hydra/launcher=submitit_slurm needs SLURM, and sbatch is not on the PATH" in capsys.readouterr().err
    launcher = {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}
    basic = OmegaConf.create({"hydra": {"launcher": launcher, "sweep": {"dir": str(tmp_path / "sweep")}}})
    SweepSummary().on_multirun_start(basic)  # the local launchers need no SLURM
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()  # written from the start, whatever the sweeper


def test_resuming_a_sweep_reads_its_own_overrides_and_refuses_others(tmp_path):
    from dae.errors import ConfigError
    from dae.sweep import RESUMING, resume_argv

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    multirun = {
        "hydra": {
            "overrides": {
                "hydra": ["hydra/launcher=joblib", f"hydra.sweep.dir={sweep}", "hydra.mode=MULTIRUN"],
                "task": ["loss=l1,mse", "trainer.max_epochs=2"],
            }
        }
    }
    OmegaConf.save(OmegaConf.create(multirun), sweep / "multirun.yaml")
    assert resume_argv(["train", "-m", f"resume={sweep}", "hydra.launcher.n_jobs=2"]) == [
        "train", "-m", "loss=l1,mse", "trainer.max_epochs=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}", f"+hydra.job.env_set.{RESUMING}=1",
    ]  # fmt: skip
    assert resume_argv(["train", "resume=x", "loss=l1"]) == ["train", "resume=x", "loss=l1"]  # one job: dae.train's own resume
    with pytest.raises(ConfigError, match=rf"resume={sweep} resumes a sweep with its own overrides; also given: loss=mse\. Leave them out"):
        resume_argv(["train", "-m", f"resume={sweep}", "loss=mse"])
    with pytest.raises(ConfigError, match=rf"resume={tmp_path} is not a sweep folder \(no multirun.yaml\)"):
        resume_argv(["train", "-m", f"resume={tmp_path}"])


def test_a_resumed_sweep_skips_finished_jobs_continues_stopped_ones_and_reruns_the_rest(tmp_path):
    from dae.sweep import resumed_job

    done, stopped, failed = (tmp_path / name for name in ("done", "stopped", "failed"))
    (done / "checkpoints").mkdir(parents=True)
    (done / "metrics.json").write_text("{}")
    (stopped / "checkpoints").mkdir(parents=True)
    (stopped / "checkpoints" / "last.ckpt").write_bytes(b"x")
    failed.mkdir()
    (failed / ERROR_FILE).write_text("ValueError: x")
    assert resumed_job(done) == ("done", None) and resumed_job(stopped) == ("continue", stopped / "checkpoints" / "last.ckpt")
    assert resumed_job(failed) == ("start", None) and not (failed / ERROR_FILE).exists()
    assert resumed_job(tmp_path / "never") == ("start", None)


def test_a_search_space_that_holds_nothing_is_named_before_any_trial():
    from dae.sweep import search_space_problem

    def space(**params):
        return OmegaConf.create({"hydra": {"sweeper": {"params": params}}})

    good = space(
        **{"model.optimizer.lr": "tag(log, interval(0.0005, 0.01))", "loss": "choice(l1, mse)", "data.batch_size": "range(32, 256, 32)"}
    )
    assert search_space_problem(good) is None and search_space_problem(OmegaConf.create({"hydra": {}})) is None
    assert "hydra.sweeper.params.loss=choice() cannot be read (ValueError while evaluating 'choice()'" in search_space_problem(
        space(loss="choice()")
    )
    for key, value in (("model.optimizer.lr", "interval(0.01, 0.001)"), ("data.batch_size", "range(256, 32)")):
        assert search_space_problem(space(**{key: value})) == (
            f"hydra.sweeper.params.{key}={value} holds no value to try; give a low end below the high end, e.g. interval(0.001, 0.01)."
        )


def test_the_keys_a_sweep_varies_are_its_multi_valued_overrides_then_its_search_space():
    from omegaconf import OmegaConf

    from dae.sweep import swept_keys

    config = OmegaConf.create(
        {
            "hydra": {
                "overrides": {"task": ["seed=1", "noise.sigma=0.1,0.3", "loss=glob(*)", "++trainer.x=2"]},
                "sweeper": {"params": {"model.optimizer.lr": "interval(0.001, 0.01)"}},
            }
        }
    )
    assert swept_keys(config) == ["noise.sigma", "loss", "model.optimizer.lr"]


def test_a_resumed_sweep_finds_job_folders_named_before_the_swept_keys_came_first(tmp_path):
    import yaml

    from dae.sweep import named_by

    sweep = tmp_path / "sweep"
    (sweep / "multirun.yaml").parent.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    job = sweep / "loss=l1,noise=gaussian"  # the older naming: keys sorted, whatever the sweep varies
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("{}\n")
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["noise=gaussian", "loss=l1"]))
    assert not named_by(["noise"], sweep)  # so the resumed sweep names its jobs the older way, and finds them
    assert named_by([], sweep) and named_by(["loss"], sweep)
