"""python -m dae.report on a real (small) sweep of the fixture."""

import csv
import json
import shutil

from dae.report import validation_losses
from tests.conftest import fixture_overrides, run_module

CONV_AE_PARAMETERS = 1_793_153  # the design's autoencoder at its default widths and 128-d latent


def test_report_has_one_row_per_job_figures_and_failed_jobs(fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_module(
        "dae.train", "-m", "loss=l1,mse", "trainer.max_epochs=2", "trainer.limit_train_batches=3", f"hydra.sweep.dir={sweep}",
        *fixture_overrides(*fixture_data),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "metrics.json").is_file())
    assert len(jobs) == 2
    # A job that died: its folder has a config and an error, no metrics.
    failed = sweep / "loss=smooth_l1"
    shutil.copytree(jobs[0] / ".hydra", failed / ".hydra")
    (failed / "error.txt").write_text("ValueError: noise.sigma=-1.0 is out of range: allowed >= 0.0\nTraceback ...\n")

    done = run_module("dae.report", str(sweep))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert [r["job"].split(",")[0] for r in rows] == ["loss=l1", "loss=mse", "loss=smooth_l1"]
    for row, job in zip(rows, jobs):
        metrics = json.loads((job / "metrics.json").read_text())
        assert row["status"] == "ok" and float(row["test_psnr"]) == metrics["test/psnr"]
        assert 0 <= float(row["acc_denoised"]) <= 1 and row["epochs"] == "2"
        assert int(row["parameters"]) == CONV_AE_PARAMETERS
        assert len(validation_losses(job)) == 2  # one point per epoch (the final validation is not a third)
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "ValueError: noise.sigma=-1.0 is out of range: allowed >= 0.0"
    markdown = (sweep / "report.md").read_text()
    assert "| `loss=smooth_l1` | failed: ValueError: noise.sigma=-1.0" in markdown
    assert (sweep / "loss_curves.png").stat().st_size > 0 and (sweep / "reconstructions.png").stat().st_size > 0
    assert "1 of 3 jobs failed: loss=smooth_l1" in done.stderr

    # --out: the same report written elsewhere (a study folder), the sweep folder left as it was
    before = (sweep / "report.md").stat().st_mtime_ns
    elsewhere = tmp_path / "study"
    done = run_module("dae.report", str(sweep), "--out", str(elsewhere))
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name for p in elsewhere.iterdir()} == {"report.md", "report.csv", "loss_curves.png", "reconstructions.png"}
    assert (elsewhere / "report.csv").read_text() == (sweep / "report.csv").read_text()
    assert (sweep / "report.md").stat().st_mtime_ns == before


def test_report_on_a_folder_that_is_not_a_sweep(tmp_path):
    done = run_module("dae.report", str(tmp_path))
    assert done.returncode == 2
    assert f"{tmp_path} is not a sweep folder (no multirun.yaml)" in done.stderr
