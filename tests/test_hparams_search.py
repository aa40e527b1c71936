"""hparams_search=optuna: a seeded TPE search of the main knobs by val/psnr, through Hydra's Optuna sweeper."""

import json

import pytest
import yaml

from tests.conftest import fixture_overrides, run_module

pytestmark = pytest.mark.slow  # three short trials, two at a time, then the same search resumed: about a minute

SEARCHED = {"model.optimizer.lr", "model.net.latent_dim", "data.batch_size", "loss", "scheduler", "search.train_level_low"}


# Trials run two at a time in joblib's worker processes (the sweeper's n_jobs): the sweeper's work is the same under the
# basic launcher, which the other sweep tests cover, and tests/test_slurm.py runs a search as SLURM jobs.
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]


def test_a_search_maximises_val_psnr_over_seeded_trials_and_resumes(fixture_data, tmp_path):
    search = tmp_path / "search"
    args = ["hparams_search=optuna", "hydra.sweeper.n_trials=3", *JOBLIB, "debug=fast", *fixture_overrides(*fixture_data)]
    done = run_module("dae.train", *args, f"hydra.sweep.dir={search}")
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = [p for p in search.iterdir() if (p / "metrics.json").is_file()]
    assert len(jobs) == 3 and (search / "multirun.yaml").is_file()
    results = yaml.safe_load((search / "optimization_results.yaml").read_text())
    scores = [json.loads((job / "metrics.json").read_text())["val/psnr"] for job in jobs]
    assert results["best_value"] == pytest.approx(max(scores))
    assert set(results["best_params"]) == SEARCHED - {"data.batch_size"}  # the fixture's data.batch_size=32 fixes it
    for job in jobs:  # each trial trained what it was given: its val/psnr, not the test set, is the objective
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert {o.split("=")[0] for o in overrides} >= SEARCHED - {"data.batch_size"}

    again = run_module("dae.train", "-m", f"resume={search}")  # the seeded sampler proposes the same trials: all done
    assert again.returncode == 0, again.stderr[-2000:]
    assert (again.stdout + again.stderr).count("finished before: skipped") == 3
    assert yaml.safe_load((search / "optimization_results.yaml").read_text()) == results
