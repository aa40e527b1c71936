"""dae.report on a sweep folder: one row per job, the figures, failed jobs listed as failed, and the jobs of a grid
sweep whose folders are gone listed as missing."""

import csv
import json
import shutil

import pytest
import yaml
from PIL import Image

from dae.report import main
from dae.reporting import BASIC_SWEEPER, sweep_grid, validation_losses

CONV_AE_PARAMETERS = 1_793_153  # the original study's autoencoder at its default widths and 128-d latent
OPTUNA_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def sweep_of(job, folder, fixed=()):
    """A sweep folder as Hydra writes one, with two finished jobs (copies of ``job``) and one that died; each job's
    overrides are its loss and the ``fixed`` ones."""
    folder.mkdir()
    (folder / "multirun.yaml").write_text("{}\n")
    for name in ("loss=l1", "loss=mse"):
        shutil.copytree(job, folder / name)
        (folder / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([name, *fixed]))
    failed = folder / "loss=smooth_l1"
    shutil.copytree(job / ".hydra", failed / ".hydra")
    (failed / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["loss=smooth_l1", *fixed]))
    (failed / "error.txt").write_text("ValueError: noise.sigma=-1.0 is out of range: allowed >= 0.0\nTraceback ...\n")
    return folder


def multirun_yaml(folder, task, sweeper=BASIC_SWEEPER, params=None):
    """The parts of ``multirun.yaml`` that say a sweep's jobs: its sweeper and its command-line overrides."""
    hydra = {"sweeper": {"_target_": sweeper, "params": params}, "overrides": {"hydra": ["hydra.mode=MULTIRUN"], "task": task}}
    (folder / "multirun.yaml").write_text(yaml.safe_dump({"hydra": hydra, "loss": {"_target_": "torch.nn.L1Loss"}}))


def test_report_has_one_row_per_job_figures_and_failed_jobs(job, tmp_path, capsys):
    sweep = sweep_of(job, tmp_path / "sweep")
    assert main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [r["job"] for r in rows] == ["loss=l1", "loss=mse", "loss=smooth_l1"]
    metrics = json.loads((job / "metrics.json").read_text())
    report = json.loads((job / "classifier_report.json").read_text())
    probe = json.loads((job / "probe" / "report.json").read_text())
    for row in rows[:2]:
        assert row["status"] == "ok" and float(row["test_psnr"]) == metrics["test/psnr"]
        assert float(row["acc_denoised"]) == pytest.approx(report["denoised"]["accuracy"]) and row["epochs"] == "1"
        assert float(row["probe_acc"]) == pytest.approx(probe["accuracy"])
        assert int(row["parameters"]) == CONV_AE_PARAMETERS
    assert len(validation_losses(job)) == 1  # one point per epoch (the final validation is not a second)
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "ValueError: noise.sigma=-1.0 is out of range: allowed >= 0.0"
    markdown = (sweep / "report.md").read_text()
    assert "| `loss=smooth_l1` | failed: ValueError: noise.sigma=-1.0" in markdown
    for name in ("loss_curves.png", "reconstructions.png"):
        with Image.open(sweep / name) as figure:
            assert figure.format == "PNG" and min(figure.size) >= 200
    assert "1 of 3 jobs failed: loss=smooth_l1" in capsys.readouterr().err

    # --out: the same report written elsewhere (a study folder), the sweep folder left as it was
    before = (sweep / "report.md").stat().st_mtime_ns
    elsewhere = tmp_path / "study"
    assert main([str(sweep), "--out", str(elsewhere)]) == 0
    assert {p.name for p in elsewhere.iterdir()} == {"report.md", "report.csv", "loss_curves.png", "reconstructions.png"}
    assert (elsewhere / "report.csv").read_text() == (sweep / "report.csv").read_text()
    assert (sweep / "report.md").stat().st_mtime_ns == before


def test_report_on_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(SystemExit) as exit:
        main([str(tmp_path)])
    assert str(exit.value.code).startswith(f"error: {tmp_path} is not a sweep folder (no multirun.yaml)")


def test_a_job_whose_files_cannot_be_read_is_listed_as_unreadable_and_the_others_reported(job, tmp_path, capsys):
    sweep = sweep_of(job, tmp_path / "sweep")
    (sweep / "loss=mse" / "metrics.json").write_text('{"test/psnr": 20.1, ')  # cut short
    assert main([str(sweep)]) == 0
    rows = {r["job"]: r for r in csv.DictReader((sweep / "report.csv").open())}
    assert rows["loss=l1"]["status"] == "ok" and rows["loss=smooth_l1"]["status"] == "failed"
    assert rows["loss=mse"]["status"] == "unreadable" and rows["loss=mse"]["error"].startswith(
        f"{sweep / 'loss=mse' / 'metrics.json'} cannot be read (JSONDecodeError"
    )
    assert "1 of 3 jobs unreadable: loss=mse" in capsys.readouterr().err


def test_a_grid_job_whose_folder_is_gone_is_listed_as_missing(job, tmp_path, capsys):
    sweep = sweep_of(job, tmp_path / "sweep", fixed=["trainer.max_epochs=1"])
    multirun_yaml(sweep, ["loss=l1,mse,smooth_l1", "trainer.max_epochs=1"])
    shutil.rmtree(sweep / "loss=mse")
    assert main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [(r["job"], r["status"]) for r in rows] == [("loss=l1", "ok"), ("loss=smooth_l1", "failed"), ("loss=mse", "missing")]
    assert rows[2]["error"] == "its folder is gone or was never made"
    line = f"1 of 3 jobs missing: loss=mse (its folder is gone or never made; `python -m dae.train -m resume={sweep}` runs it)"
    markdown = (sweep / "report.md").read_text()
    assert line + "." in markdown and "| `loss=mse` | missing: its folder is gone or was never made |" in markdown
    err = capsys.readouterr().err
    assert line in err and "1 of 3 jobs failed: loss=smooth_l1" in err

    for name in ("loss=l1", "loss=smooth_l1"):
        shutil.rmtree(sweep / name)
    with pytest.raises(SystemExit) as exit:
        main([str(sweep)])
    assert str(exit.value.code).startswith(
        f"error: {sweep} is a sweep folder without job folders (all 3 of its jobs are missing: loss=l1, loss=mse, loss=smooth_l1)"
    )


def test_a_search_reports_the_trials_there_are_and_names_none_missing(job, tmp_path, capsys):
    sweep = sweep_of(job, tmp_path / "search", fixed=["hparams_search=optuna"])
    multirun_yaml(sweep, ["hparams_search=optuna"], sweeper=OPTUNA_SWEEPER, params={"loss": "choice(l1, mse, smooth_l1)"})
    shutil.rmtree(sweep / "loss=mse")
    assert main([str(sweep)]) == 0
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [(r["job"], r["status"]) for r in rows] == [("loss=l1", "ok"), ("loss=smooth_l1", "failed")]
    assert "missing" not in (sweep / "report.md").read_text()
    err = capsys.readouterr().err
    assert "1 of 2 jobs failed: loss=smooth_l1" in err and "missing" not in err


def test_the_jobs_of_a_grid_sweep_are_the_product_of_its_overrides(tmp_path):
    multirun_yaml(tmp_path, ["loss=l1,mse", "noise.sigma=range(1,3)", "trainer.max_epochs=1"], params={"model.net.latent_dim": "64,128"})
    grid = sweep_grid(tmp_path)
    assert len(grid) == 8 and grid[0] == ["model.net.latent_dim=64", "loss=l1", "noise.sigma=1", "trainer.max_epochs=1"]
    assert grid[-1] == ["model.net.latent_dim=128", "loss=mse", "noise.sigma=2", "trainer.max_epochs=1"]
    multirun_yaml(tmp_path, ["loss=glob(*)"])  # the config group's options are those of the code the sweep ran with
    assert sweep_grid(tmp_path) is None
    (tmp_path / "multirun.yaml").write_text("{}\n")
    assert sweep_grid(tmp_path) is None
