"""Two CPU processes (trainer=ddp_cpu, gloo): one job folder, one metrics.json, the same weights on
both ranks, a different shard of the batches on each; and the same inside a sweep (ddp_spawn)."""

import json

import pytest

from dae.sweep import root_cause
from tests.conftest import fixture_overrides, run_module

DIGEST = ["+callbacks.digest._target_=tests.helpers.RankDigest", "+callbacks.digest.folder=${paths.output_dir}"]
SHORT = ["trainer=ddp_cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=4"]


def check_two_ranks(job):
    assert (job / "weights_rank0.txt").read_text() == (job / "weights_rank1.txt").read_text()  # DDP kept them in step
    assert (job / "batch_rank0.txt").read_text() != (job / "batch_rank1.txt").read_text()  # each rank its own shard
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["test/psnr"] > 0
    assert len(list((job / "checkpoints").glob("best-*.ckpt"))) == 1 and (job / "classifier_report.json").is_file()


@pytest.mark.slow
def test_two_cpu_processes_train_one_job(fixture_data, tmp_path):
    job = tmp_path / "runs" / "job"
    done = run_module("dae.train", *SHORT, f"hydra.run.dir={job}", *DIGEST, *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    check_two_ranks(job)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["job"]  # rank 1 wrote into the same folder, made no other
    assert len(list(job.glob(".hydra/config.yaml"))) == 1
    # the test metrics were reduced over both halves of the test set: one process on all of it agrees
    from dae.evaluate import evaluate
    from tests.test_evaluation import compose_app

    alone = evaluate(compose_app("evaluate", [f"run={job}", "accelerator=cpu"]))
    trained = json.loads((job / "metrics.json").read_text())
    for key in ("test/psnr", "test/ssim", "test/loss"):
        assert alone[key] == pytest.approx(trained[key], abs=1e-4), key


@pytest.mark.slow
def test_two_cpu_processes_inside_a_sweep(fixture_data, tmp_path):
    """Lightning's ddp would start the whole sweep again in rank 1; in a sweep the strategy is ddp_spawn."""
    sweep = tmp_path / "sweep"
    done = run_module("dae.train", "-m", *SHORT, "seed=1", f"hydra.sweep.dir={sweep}", *DIGEST, *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    (job,) = [p for p in sweep.iterdir() if p.is_dir()]
    check_two_ranks(job)
    config = (job / ".hydra" / "config.yaml").read_text()
    assert "strategy: ${dae.ddp_strategy:}" in config


def test_ddp_strategy_is_spawn_only_inside_a_multirun():
    from hydra.core.hydra_config import HydraConfig

    from dae.config import ddp_strategy

    HydraConfig.instance().cfg = None
    assert ddp_strategy() == "ddp"


def test_error_from_a_spawned_process_is_named_by_its_own_last_line():
    error = RuntimeError("\n\n-- Process 0 terminated with the following error:\nTraceback (most recent call last):\n  File x\nFileNotFoundError: [Errno 2] No such file: 'a'\n")
    assert root_cause(error) == "FileNotFoundError: [Errno 2] No such file: 'a'"
    assert root_cause(ValueError("noise.sigma=-1.0 is out of range\nmore")) == "ValueError: noise.sigma=-1.0 is out of range"
