"""Classifier M, its report, the SVM probe and re-evaluation, on the fixture."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dae.jobs import JobError
from tests.conftest import CONF, compose_train, fixture_overrides, run_module

INPUTS = {"clean", "noisy", "denoised", "reconstructed"}


def compose_app(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(name, overrides=overrides)


def test_training_writes_the_classifier_report(job):
    report = json.loads((job / "classifier_report.json").read_text())
    assert set(report) == INPUTS
    for name in INPUTS:
        assert 0 <= report[name]["accuracy"] <= 1
        assert {str(d) for d in range(10)} <= report[name].keys()
        assert {"precision", "recall", "f1-score", "support"} <= report[name]["0"].keys()
        assert {"macro avg", "weighted avg"} <= report[name].keys()
    assert report["clean"]["accuracy"] > 0.5, "M learns the fixture's digits"
    text = (job / "classifier_report.txt").read_text()
    assert all(f"== {name}" in text for name in INPUTS) and "weighted avg" in text

    tags = {"scalars": set(), "tensors": set()}
    for path in job.glob("events.out.tfevents.*"):
        found = EventAccumulator(str(path)).Reload().Tags()
        tags["scalars"] |= set(found["scalars"])
        tags["tensors"] |= set(found["tensors"])
    assert {f"hp/acc_{name}" for name in INPUTS} <= tags["scalars"]
    assert any("classifier_report" in t for t in tags["tensors"])  # the TEXT tab


def test_probe_callback_reports_during_training(job):
    saved = json.loads((job / "probe" / "report.json").read_text())
    assert 0 <= saved["accuracy"] <= 1 and saved["n_train"] == 300
    scalars = set()
    for path in job.glob("events.out.tfevents.*"):
        scalars |= set(EventAccumulator(str(path)).Reload().Tags()["scalars"])
    assert "hp/probe_acc" in scalars


def test_probe_defaults_match_the_probe_config():
    from dae.probe import ProbeSettings

    assert OmegaConf.to_container(OmegaConf.load(CONF / "probe.yaml").probe) == ProbeSettings().__dict__


@pytest.mark.parametrize("bad", [{"inputs": "blurry"}, {"embedding": "umap"}, {"n_train": 5}, {"batch_size": 0}])
def test_bad_probe_settings_name_the_value(bad):
    from dae.probe import ProbeSettings

    ((key, value),) = bad.items()
    with pytest.raises(ValueError, match=rf"probe\.{key}={value!r}"):
        ProbeSettings(**bad)


def test_classifier_is_cached_and_reused(fixture_data, tmp_path, caplog):
    from dae.classifier import load_or_train

    cfg = compose_train(fixture_overrides(*fixture_data), tmp_path / "job")
    from hydra.utils import instantiate

    from dae.noise import Identity

    dm = instantiate(cfg.data, noise=Identity())
    dm.prepare_data()
    dm.setup()
    cache = tmp_path / "cache"
    with caplog.at_level("INFO"):
        first = load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    weights = next(cache.glob("classifier/*/model.pt"))
    stamp = weights.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO"):
        second = load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    assert "loaded from" in caplog.text and "training" not in caplog.text
    assert weights.stat().st_mtime_ns == stamp
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert (a == b).all()
    report = json.loads((weights.parent / "report.json").read_text())
    assert 0 <= report["clean"]["accuracy"] <= 1

    import torch

    torch.manual_seed(1234)  # whatever the caller's random state, M is trained the same
    retrained = load_or_train(cfg.classifier, dm, cache, refresh=True, accelerator="cpu")
    for a, b in zip(first.state_dict().values(), retrained.state_dict().values()):
        assert torch.equal(a, b)

    OmegaConf.set_struct(cfg, False)
    cfg.classifier.lr = 0.001  # another config: another cache entry
    load_or_train(cfg.classifier, dm, cache, accelerator="cpu")
    assert len(list(cache.glob("classifier/*/model.pt"))) == 2


def test_evaluate_rewrites_the_report(job, fixture_data):
    from dae.evaluate import evaluate

    (job / "classifier_report.json").unlink()
    cfg = compose_app("evaluate", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "accelerator=cpu"])
    result = evaluate(cfg)
    assert {"test/psnr", "acc_clean", "acc_noisy", "acc_denoised", "acc_reconstructed"} <= result.keys()
    assert set(json.loads((job / "classifier_report.json").read_text())) == INPUTS
    # judged as it was tested at the end of training: same weights, same precision, same figures
    trained = json.loads((job / "metrics.json").read_text())
    assert result["test/psnr"] == pytest.approx(trained["test/psnr"], abs=1e-4)


def test_a_run_is_judged_at_its_own_precision_everywhere(job, fixture_data):
    """Figures made outside the run (levels, cross-noise, baselines, reports) use the precision the
    run trained and tested at, so its own noise gives its own test PSNR."""
    from dae.classifier import load_or_train
    from dae.evaluate import on_noise
    from dae.jobs import build_datamodule, load_job, load_model

    loaded = load_job(job)
    model, dm = load_model(loaded), build_datamodule(loaded)
    classifier = load_or_train(loaded.cfg.classifier, dm, loaded.cfg.paths.cache_dir, accelerator="cpu")
    assert loaded.precision == json.loads((job / "metrics.json").read_text())["precision"]  # recorded when it trained
    row = on_noise(model, dm, dm.noise, classifier, loaded.precision)
    assert row["psnr"] == pytest.approx(json.loads((job / "metrics.json").read_text())["test/psnr"], abs=1e-4)


def test_evaluate_at_several_levels_without_retraining(job, fixture_data):
    from dae.evaluate import evaluate

    before = (job / "classifier_report.json").read_bytes()
    cfg = compose_app("evaluate", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "levels=[0.1,0.5,0.8]"])
    result = evaluate(cfg)
    rows = result["levels"]
    assert [r["level"] for r in rows] == [0.1, 0.5, 0.8] and result["level_name"] == "sigma"
    noisy_psnr = [r["noisy_psnr"] for r in rows]
    assert noisy_psnr[0] > noisy_psnr[1] > noisy_psnr[2]  # more noise, lower input PSNR
    assert all(0 <= r["acc_denoised"] <= 1 and 0 <= r["ssim"] <= 1 for r in rows)
    lines = (job / "levels.csv").read_text().splitlines()
    assert lines[0] == "level,noisy_psnr,psnr,ssim,acc_noisy,acc_denoised" and len(lines) == 4
    assert (job / "levels.png").stat().st_size > 0
    assert (job / "classifier_report.json").read_bytes() == before  # the run's own report is left alone


def test_evaluate_levels_out_of_range_fail_before_work(job, fixture_data):
    from dae.evaluate import evaluate
    from dae.jobs import JobError

    cfg = compose_app("evaluate", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "levels=[0.1,-2]"])
    with pytest.raises(JobError, match=r"levels=\[0.1, -2\]: noise.sigma=-2.0 is out of range"):
        evaluate(cfg)


def test_probe_end_to_end(job, fixture_data):
    from dae.probe import probe

    cfg = compose_app("probe", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=300", "probe.n_embed=100"])
    result = probe(cfg)
    saved = json.loads((job / "probe" / "report.json").read_text())
    assert saved["accuracy"] == pytest.approx(result["accuracy"])
    assert 0 <= saved["accuracy"] <= 1 and 0 <= saved["control_accuracy"] <= 1
    assert saved["n_train"] == 300 and saved["latent_dim"] == 128 and saved["inputs"] == "noisy"
    assert "precision" in (job / "probe" / "report.txt").read_text()
    assert (job / "probe" / "latent_2d.png").stat().st_size > 5000
    assert (job / "probe" / "projector_config.pbtxt").is_file()  # TensorBoard's PROJECTOR


def test_probe_control_is_cached_per_data_noise_and_svm(job, fixture_data, tmp_path):
    from dae.probe import probe

    overrides = [f"run={job}", f"paths.data_dir={fixture_data[0]}", f"paths.cache_dir={tmp_path / 'cache'}", "probe.n_train=200", "probe.n_embed=50"]
    first = probe(compose_app("probe", overrides))
    cached = list((tmp_path / "cache" / "probe_control").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["accuracy"] == first["control_accuracy"]
    again = probe(compose_app("probe", overrides))
    assert again["control_accuracy"] == first["control_accuracy"] and again["seconds"]["control (PCA + SVM)"] < 0.5
    probe(compose_app("probe", [*overrides, "probe.C=1.0"]))  # another SVM: another control
    assert len(list((tmp_path / "cache" / "probe_control").glob("*.json"))) == 2


def test_probe_clean_inputs_and_other_kernel(job, fixture_data):
    from dae.probe import probe

    cfg = compose_app("probe", [f"run={job}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=200", "probe.inputs=clean", "probe.kernel=linear", "probe.control=false"])
    result = probe(cfg)
    assert result["inputs"] == "clean" and result["kernel"] == "linear" and result["control_accuracy"] is None


def test_probe_sweep_writes_one_row_per_job(job, fixture_data, tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    for name in ("loss=l1", "loss=mse"):
        shutil.copytree(job, sweep / name)
        (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([name]))
    from dae.probe import probe

    cfg = compose_app("probe", [f"run={sweep}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=100", "probe.control=false", "probe.n_embed=50"])
    probe(cfg)
    summary = (sweep / "probe_summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and "`loss=l1`" in rows[0] and "`loss=mse`" in rows[1]


def _error(app: str, overrides: list[str]) -> str:
    from dae.evaluate import evaluate
    from dae.probe import probe

    with pytest.raises(JobError) as err:
        (probe if app == "probe" else evaluate)(compose_app(app, overrides))
    return str(err.value)


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


def test_probe_command_line_on_a_sweep_job_folder(job, fixture_data, tmp_path):
    named = tmp_path / "sweep" / "loss=l1"  # sweep job folders have '=' in their names
    shutil.copytree(job, named)
    done = run_module("dae.probe", f"run={named}", f"paths.data_dir={fixture_data[0]}", f"paths.log_dir={tmp_path / 'logs'}", "probe.n_train=100", "probe.control=false", "probe.n_embed=50")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SVM probe accuracy" in done.stdout
    assert (named / "probe" / "report.json").is_file()


def test_command_line_error_is_one_line_naming_the_path(tmp_path):
    done = run_module("dae.evaluate", f"run={tmp_path / 'nowhere'}", f"paths.log_dir={tmp_path / 'logs'}")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == f"error: run={tmp_path / 'nowhere'} does not exist; expected a job folder such as outputs/runs/<time> or outputs/multirun/<time>/<overrides>."


def test_control_prediction_split_over_two_processes_keeps_order():
    """The control's test vectors are predicted half here, half in the worker process: the labels
    come back in the test set's order, as one process would give them."""
    import numpy as np
    from joblib.externals.loky import get_reusable_executor
    from sklearn.svm import SVC

    from dae.probe import predict_in_two

    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 5))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)  # three classes
    model = SVC().fit(x[:200], y[:200])
    expected = model.predict(x[200:])
    assert len(set(expected)) == 3  # the order could not come out right by chance
    assert np.array_equal(predict_in_two(model, x[200:], get_reusable_executor(max_workers=1)), expected)
