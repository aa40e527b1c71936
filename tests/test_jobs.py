"""dae.jobs: finding and reloading finished job folders and their checkpoints."""

import shutil
import time

import pytest

from dae.jobs import JobError, job_of_checkpoint, latest_job, load_job, load_model, target


def test_run_paths_with_equals_signs_are_quoted_for_hydra():
    from dae.jobs import quote_path_overrides

    argv = ["prog", "run=outputs/multirun/t/loss=l1", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]
    assert quote_path_overrides(argv) == ["prog", "run='outputs/multirun/t/loss=l1'", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]


def test_a_job_folder_loads_with_its_config_checkpoint_and_precision(job):
    loaded = load_job(job)
    assert loaded.folder == job and loaded.cfg.paths.output_dir == str(job)
    assert loaded.checkpoint().name.startswith("best-") and loaded.precision in ("32-true", "bf16-mixed")
    assert "trainer.max_epochs=1" in loaded.overrides and loaded.name == ",".join(loaded.overrides)
    model = load_model(loaded)
    assert not model.training and model.device.type == "cpu"


def test_latest_job_and_target(job, tmp_path):
    logs = tmp_path / "outputs"
    older, newer = logs / "runs" / "a", logs / "multirun" / "t" / "loss=l1"
    for folder in (older, newer):
        shutil.copytree(job, folder)
        time.sleep(0.01)
        (folder / ".hydra" / "config.yaml").touch()
    assert latest_job(logs) == newer
    assert target(None, None, logs) == newer and target(str(older), None, logs) == older
    ckpt = next((older / "checkpoints").glob("best-*.ckpt"))
    assert target(None, str(ckpt), logs) == older == job_of_checkpoint(ckpt)
    with pytest.raises(JobError, match=r"no training job under .*: run `python -m dae.train` first"):
        latest_job(tmp_path / "empty")
