"""dae.evaluate: a finished run judged again, at its own precision, or at other levels of its noise."""

import json
import shutil

import pytest
from PIL import Image

from dae.errors import JobError
from tests.conftest import compose_app

INPUTS = {"clean", "noisy", "denoised", "reconstructed"}


def test_evaluate_rewrites_the_report(job_copy, fixture_data):
    from dae.evaluate import evaluate

    (job_copy / "classifier_report.json").unlink()
    cfg = compose_app("evaluate", [f"run={job_copy}", f"paths.data_dir={fixture_data[0]}", "accelerator=cpu"])
    result = evaluate(cfg)
    assert {"test/psnr", "acc_clean", "acc_noisy", "acc_denoised", "acc_reconstructed"} <= result.keys()
    assert set(json.loads((job_copy / "classifier_report.json").read_text())) == INPUTS
    # judged as it was tested at the end of training: same weights, same precision, same figures
    trained = json.loads((job_copy / "metrics.json").read_text())
    assert result["test/psnr"] == pytest.approx(trained["test/psnr"], abs=1e-4)


def test_a_run_is_judged_at_its_own_precision_everywhere(job_copy, fixture_data):
    """Figures made outside the run (levels, cross-noise, baselines, reports) use the precision the
    run trained and tested at, so its own noise gives its own test PSNR."""
    from dae.jobs import load_job
    from dae.loading import build_datamodule, load_model
    from dae.scoring.classifier import load_or_train
    from dae.scoring.denoiser import on_noise

    loaded = load_job(job_copy)
    model, dm = load_model(loaded), build_datamodule(loaded)
    classifier = load_or_train(loaded.cfg.classifier, dm, loaded.cfg.paths.cache_dir, accelerator="cpu")
    assert loaded.precision == json.loads((job_copy / "metrics.json").read_text())["precision"]  # recorded when it trained
    row = on_noise(model, dm, dm.noise, classifier, loaded.precision)
    assert row["psnr"] == pytest.approx(json.loads((job_copy / "metrics.json").read_text())["test/psnr"], abs=1e-4)


def test_evaluate_at_several_levels_without_retraining(job_copy, fixture_data):
    from dae.evaluate import evaluate

    before = (job_copy / "classifier_report.json").read_bytes()
    cfg = compose_app("evaluate", [f"run={job_copy}", f"paths.data_dir={fixture_data[0]}", "levels=[0.1,0.5,0.8]"])
    result = evaluate(cfg)
    rows = result["levels"]
    assert [r["level"] for r in rows] == [0.1, 0.5, 0.8] and result["level_name"] == "sigma"
    noisy_psnr = [r["noisy_psnr"] for r in rows]
    assert noisy_psnr[0] > noisy_psnr[1] > noisy_psnr[2]  # more noise, lower input PSNR
    assert rows[0]["acc_noisy"] > rows[2]["acc_noisy"]  # M reads lightly noisy digits better than heavily noisy ones
    lines = (job_copy / "levels.csv").read_text().splitlines()
    assert lines[0] == "level,noisy_psnr,psnr,ssim,acc_noisy,acc_denoised" and len(lines) == 4
    with Image.open(job_copy / "levels.png") as figure:  # two panels side by side
        assert figure.format == "PNG" and figure.width > 2 * figure.height
    assert (job_copy / "classifier_report.json").read_bytes() == before  # the run's own report is left alone


def test_evaluate_levels_out_of_range_fail_before_work(job, fixture_data):
    from dae.errors import ConfigError
    from dae.evaluate import evaluate

    cfg = compose_app("evaluate", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "levels=[0.1,-2]"])
    with pytest.raises(ConfigError, match=r"levels=\[0.1, -2\]: noise.sigma=-2.0 is out of range"):
        evaluate(cfg)


@pytest.mark.parametrize("app", ["probe", "evaluate"])
def test_bad_run_paths_give_one_clear_error(app, job, tmp_path):
    missing = tmp_path / "nope"
    assert f"run={missing} does not exist" in _error(app, [f"run={missing}"])

    plain = tmp_path / "plain"
    plain.mkdir()
    assert f"run={plain} is not a job folder" in _error(app, [f"run={plain}"])

    no_ckpt = tmp_path / "no_ckpt"
    shutil.copytree(job, no_ckpt, ignore=shutil.ignore_patterns("checkpoints"))
    message = _error(app, [f"run={no_ckpt}"])
    assert str(no_ckpt) in message and "has no checkpoint" in message


def test_foreign_checkpoint_is_refused_before_work(job, tmp_path):
    import torch

    from dae.models import DigitCNN

    foreign = tmp_path / "foreign" / "checkpoints" / "other.ckpt"
    foreign.parent.mkdir(parents=True)
    torch.save({"state_dict": DigitCNN().state_dict()}, foreign)
    message = _error("evaluate", [f"run={job}", f"ckpt={foreign}"])
    assert str(foreign) in message and "does not fit this job's model" in message

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    assert "could not be read as a Lightning checkpoint" in _error("evaluate", [f"run={job}", f"ckpt={garbage}"])

    ckpt_error = _error("probe", [f"ckpt={tmp_path / 'missing.ckpt'}"])
    assert "missing.ckpt does not exist" in ckpt_error


def test_command_line_error_is_one_line_naming_the_path(tmp_path):
    from dae.evaluate import main
    from tests.conftest import run_app

    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={tmp_path / 'nowhere'}", f"paths.log_dir={tmp_path / 'logs'}")
    assert (
        exit.value.code
        == f"error: run={tmp_path / 'nowhere'} does not exist; expected a job folder such as outputs/runs/<time> or outputs/multirun/<time>/<overrides>."
    )


def _error(app: str, overrides: list[str]) -> str:
    from dae.evaluate import evaluate
    from dae.probe import probe

    with pytest.raises(JobError) as err:
        (probe if app == "probe" else evaluate)(compose_app(app, overrides))
    return str(err.value)
