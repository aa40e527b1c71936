"""dae.train with two CPU processes (trainer=ddp_cpu, gloo): one job folder, one metrics.json, the same
weights on both ranks, a different shard of the batches on each; and the same inside a sweep (ddp_spawn)."""

import json

import pytest

from tests.conftest import compose_app, fixture_overrides, run_module

pytestmark = pytest.mark.slow  # each test starts distributed training processes

DIGEST = ["+callbacks.digest._target_=tests.helpers.RankDigest", "+callbacks.digest.folder=${paths.output_dir}"]
SHORT = ["trainer=ddp_cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=4"]


def check_two_ranks(job):
    assert (job / "weights_rank0.txt").read_text() == (job / "weights_rank1.txt").read_text()  # DDP kept them in step
    assert (job / "batch_rank0.txt").read_text() != (job / "batch_rank1.txt").read_text()  # each rank its own shard
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["test/psnr"] > 0
    assert len(list((job / "checkpoints").glob("best-*.ckpt"))) == 1 and (job / "classifier_report.json").is_file()


def test_two_cpu_processes_train_one_job(fixture_data, tmp_path):
    job = tmp_path / "runs" / "job"
    done = run_module("dae.train", *SHORT, f"hydra.run.dir={job}", *DIGEST, *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    check_two_ranks(job)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["job"]  # rank 1 wrote into the same folder, made no other
    assert len(list(job.glob(".hydra/config.yaml"))) == 1
    # the test metrics were reduced over both halves of the test set: one process on all of it agrees
    from dae.evaluate import evaluate

    alone = evaluate(compose_app("evaluate", [f"run={job}", "accelerator=cpu"]))
    trained = json.loads((job / "metrics.json").read_text())
    for key in ("test/psnr", "test/ssim", "test/loss"):
        assert alone[key] == pytest.approx(trained[key], abs=1e-4), key


def test_two_cpu_processes_inside_a_sweep(fixture_data, tmp_path):
    """Lightning's ddp would start the whole sweep again in rank 1; in a sweep the strategy is ddp_spawn."""
    sweep = tmp_path / "sweep"
    done = run_module("dae.train", "-m", *SHORT, "seed=1", f"hydra.sweep.dir={sweep}", *DIGEST, *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    (job,) = [p for p in sweep.iterdir() if p.is_dir()]
    check_two_ranks(job)
    config = (job / ".hydra" / "config.yaml").read_text()
    assert "strategy: ${dae.ddp_strategy:}" in config
