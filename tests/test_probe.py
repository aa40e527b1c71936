"""dae.probe: the SVM probe of a trained encoder, with its control, on a job or a sweep."""

import json
import shutil

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import CONF, compose_app, run_module


def test_probe_defaults_match_the_probe_config():
    from dae.scoring.probe import ProbeSettings

    assert OmegaConf.to_container(OmegaConf.load(CONF / "probe.yaml").probe) == ProbeSettings().__dict__


@pytest.mark.parametrize("bad", [{"inputs": "blurry"}, {"embedding": "umap"}, {"n_train": 5}, {"batch_size": 0}])
def test_bad_probe_settings_name_the_value(bad):
    from dae.scoring.probe import ProbeSettings

    ((key, value),) = bad.items()
    with pytest.raises(ValueError, match=rf"probe\.{key}={value!r}"):
        ProbeSettings(**bad)


def test_probe_end_to_end(job_copy, fixture_data):
    from dae.probe import probe

    cfg = compose_app("probe", [f"run={job_copy}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=300", "probe.n_embed=100"])
    result = probe(cfg)
    saved = json.loads((job_copy / "probe" / "report.json").read_text())
    assert saved["accuracy"] == pytest.approx(result["accuracy"])
    assert saved["accuracy"] > 0.15 and saved["control_accuracy"] > 0.15  # above chance (0.1): 0.235 and 0.24 seen
    assert saved["n_train"] == 300 and saved["latent_dim"] == 128 and saved["inputs"] == "noisy"
    assert "precision" in (job_copy / "probe" / "report.txt").read_text()
    assert (job_copy / "probe" / "latent_2d.png").stat().st_size > 5000
    assert (job_copy / "probe" / "projector_config.pbtxt").is_file()  # TensorBoard's PROJECTOR


def test_probe_control_is_cached_per_data_noise_and_svm(job_copy, fixture_data, tmp_path):
    from dae.probe import probe

    overrides = [
        f"run={job_copy}",
        f"paths.data_dir={fixture_data[0]}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "probe.n_train=200",
        "probe.n_embed=50",
    ]
    first = probe(compose_app("probe", overrides))
    cached = list((tmp_path / "cache" / "probe_control").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["accuracy"] == first["control_accuracy"]
    again = probe(compose_app("probe", overrides))
    assert again["control_accuracy"] == first["control_accuracy"] and again["seconds"]["control (PCA + SVM)"] < 0.5
    probe(compose_app("probe", [*overrides, "probe.C=1.0"]))  # another SVM: another control
    assert len(list((tmp_path / "cache" / "probe_control").glob("*.json"))) == 2


def test_probe_clean_inputs_and_other_kernel(job_copy, fixture_data):
    from dae.probe import probe

    cfg = compose_app(
        "probe",
        [
            f"run={job_copy}",
            f"paths.data_dir={fixture_data[0]}",
            "probe.n_train=200",
            "probe.inputs=clean",
            "probe.kernel=linear",
            "probe.control=false",
        ],
    )
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

    cfg = compose_app(
        "probe", [f"run={sweep}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=100", "probe.control=false", "probe.n_embed=50"]
    )
    probe(cfg)
    summary = (sweep / "probe_summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and "`loss=l1`" in rows[0] and "`loss=mse`" in rows[1]


def test_control_prediction_split_over_two_processes_keeps_order():
    """The control's test vectors are predicted half here, half in the worker process: the labels
    come back in the test set's order, as one process would give them."""
    import numpy as np
    from joblib.externals.loky import get_reusable_executor
    from sklearn.svm import SVC

    from dae.scoring.probe import predict_in_two

    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 5))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)  # three classes
    model = SVC().fit(x[:200], y[:200])
    expected = model.predict(x[200:])
    assert len(set(expected)) == 3  # the order could not come out right by chance
    assert np.array_equal(predict_in_two(model, x[200:], get_reusable_executor(max_workers=1)), expected)


@pytest.mark.slow  # a probe process, started as a user types it
def test_probe_command_line_on_a_sweep_job_folder(job, fixture_data, tmp_path):
    named = tmp_path / "sweep" / "loss=l1"  # sweep job folders have '=' in their names
    shutil.copytree(job, named)
    done = run_module(
        "dae.probe",
        f"run={named}",
        f"paths.data_dir={fixture_data[0]}",
        f"paths.log_dir={tmp_path / 'logs'}",
        "probe.n_train=100",
        "probe.control=false",
        "probe.n_embed=50",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SVM probe accuracy" in done.stdout
    assert (named / "probe" / "report.json").is_file()


@pytest.mark.parametrize(
    "override, message",
    [
        ("probe.kernel=foo", "probe.kernel='foo' is not one of linear, poly, rbf, sigmoid"),
        ("probe.C=-1", "probe.C=-1 must be a positive number"),
    ],
)
def test_bad_settings_fail_before_encoding_and_leave_nothing(override, message, job_copy, fixture_data):
    from dae.probe import probe

    before = {p: p.stat().st_mtime_ns for p in (job_copy / "probe").iterdir()}
    with pytest.raises(ValueError, match=message):
        probe(compose_app("probe", [f"run={job_copy}", f"paths.data_dir={fixture_data[0]}", override]))
    assert {p: p.stat().st_mtime_ns for p in (job_copy / "probe").iterdir()} == before  # nothing written, nothing new
    with pytest.raises(ValueError, match=message):  # the callback checks them when the run is built, before training
        from dae.callbacks import SVMProbe

        SVMProbe(out_dir=str(job_copy), **{override.split("=")[0].split(".")[1]: {"probe.kernel=foo": "foo", "probe.C=-1": -1}[override]})
