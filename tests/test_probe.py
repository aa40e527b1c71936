"""dae.probe: the SVM probe of a trained encoder, with its control, on a job or a sweep."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import CONF, ROOT, compose_app, run_app, run_module, write_fixture


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``, with its size and modification time: what a command that writes
    nothing leaves as it was."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


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
    assert saved["settings"]["n_train"] == 300 and saved["settings"]["ckpt"] is None  # the same as the training's probe: replaced
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
        "overwrite=true",  # the job holds the training's probe, of 300 vectors
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
            "overwrite=true",
        ],
    )
    result = probe(cfg)
    assert result["inputs"] == "clean" and result["kernel"] == "linear" and result["control_accuracy"] is None


def sweep_of_copies(job: Path, sweep: Path) -> Path:
    """A sweep folder of two copies of ``job``, as loss=l1 and loss=mse."""
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    for name in ("loss=l1", "loss=mse"):
        shutil.copytree(job, sweep / name)
        (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([name]))
    return sweep


def test_probe_sweep_writes_one_row_per_job(job, fixture_data, tmp_path):
    sweep = sweep_of_copies(job, tmp_path / "sweep")
    from dae.probe import probe

    overrides = [f"run={sweep}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=100", "probe.control=false", "probe.n_embed=50"]
    cfg = compose_app("probe", [*overrides, "overwrite=true"])
    probe(cfg)
    summary = (sweep / "probe_summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and "`loss=l1`" in rows[0] and "`loss=mse`" in rows[1]


def test_control_prediction_split_over_two_processes_keeps_order():
    """The test vectors are predicted in two halves in the worker processes: the labels come back in the
    test set's order, as one process would give them."""
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
        "overwrite=true",
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


def probe_args(job: Path, tmp_path: Path, *overrides: str) -> list[str]:
    """A probe command's arguments: ``job``, its log under ``tmp_path``, a quick probe."""
    return [f"run={job}", f"paths.log_dir={tmp_path / 'logs'}", "probe.n_embed=100", "probe.control=false", *overrides]


def test_a_probe_of_other_settings_is_refused_before_any_work(job_copy, tmp_path):
    from dae.probe import main

    before = files_of(job_copy)  # the training's probe: 300 vectors
    with pytest.raises(SystemExit) as refused:
        run_app(main, *probe_args(job_copy, tmp_path, "probe.n_train=200", "probe.inputs=clean"))
    message = str(refused.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert f"{job_copy / 'probe' / 'report.json'} holds a probe with other settings" in message
    assert "probe.inputs: noisy there, clean now; probe.n_train: 300 there, 200 now" in message
    assert "probe.control: true there, false now" in message and "pass overwrite=true to replace it" in message
    assert files_of(job_copy) == before  # nothing written: no report, no figure, no event file

    run_app(main, *probe_args(job_copy, tmp_path, "probe.n_train=200", "probe.inputs=clean", "overwrite=true"))
    saved = json.loads((job_copy / "probe" / "report.json").read_text())
    assert saved["settings"]["n_train"] == 200 and saved["settings"]["inputs"] == "clean" and saved["n_train"] == 200
    run_app(main, *probe_args(job_copy, tmp_path, "probe.n_train=200", "probe.inputs=clean"))  # the same settings: replaced, no question


def test_another_checkpoint_is_another_setting(job_copy):
    from dae.scoring.probe import ProbeSettings, other_settings, recorded_settings

    settings = ProbeSettings(n_train=300, n_embed=100)  # the training's probe of the job
    assert other_settings(job_copy, recorded_settings(settings)) is None
    assert (
        other_settings(job_copy, recorded_settings(settings, "checkpoints/last.ckpt"))
        == "with other settings (ckpt: null there, checkpoints/last.ckpt now)"
    )
    (job_copy / "probe" / "report.json").write_text('{"accuracy": 0.5}\n')  # a report that records no settings is not replaced either
    assert other_settings(job_copy, recorded_settings(settings)) == "that records no settings (an older probe's)"


def test_a_sweep_is_checked_whole_before_any_job_is_probed(job, fixture_data, tmp_path):
    from dae.probe import probe

    sweep = sweep_of_copies(job, tmp_path / "sweep")
    shutil.rmtree(sweep / "loss=l1" / "probe")  # never probed: it could be, but is not, since its neighbour is refused
    before = files_of(sweep)
    cfg = compose_app("probe", [f"run={sweep}", f"paths.data_dir={fixture_data[0]}", "probe.n_train=100", "probe.n_embed=100"])
    with pytest.raises(
        ValueError, match=r"loss=mse/probe/report\.json holds a probe with other settings \(probe\.n_train: 300 there, 100 now\)"
    ):
        probe(cfg)
    assert files_of(sweep) == before and not (sweep / "loss=l1" / "probe").exists()


def test_every_event_file_of_a_probe_holds_its_results(job_copy, tmp_path):
    from dae.probe import main

    run_app(main, *probe_args(job_copy, tmp_path, "probe.n_train=300", "overwrite=true"))
    run_app(main, *probe_args(job_copy, tmp_path, "probe.n_train=300"))  # run again: a second event file, not an empty one
    events = sorted((job_copy / "probe").glob("events.out.tfevents.*"))
    assert len(events) == 2
    for path in events:
        found = EventAccumulator(str(path)).Reload()
        assert "probe/accuracy" in found.Tags()["scalars"], path
        assert found.Scalars("probe/accuracy")[0].value == pytest.approx(
            json.loads((job_copy / "probe" / "report.json").read_text())["accuracy"]
        )
    assert (job_copy / "probe" / "projector_config.pbtxt").is_file()  # the PROJECTOR reads the embedding beside them


def job_with_more_images(job: Path, folder: Path, data_dir: Path, n_train: int) -> Path:
    """A copy of the finished ``job`` whose dataset is one drawn like the fixture with ``n_train`` training
    images: its probe's SVM fits for tens of seconds instead of milliseconds."""
    md5s = write_fixture(data_dir, n_train=n_train)
    shutil.copytree(job, folder)
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    config["paths"]["data_dir"] = str(data_dir)
    for role, md5 in md5s.items():
        config["data"]["source"]["files"][role]["md5"] = md5
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (Linux's /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(parent) == pid and state != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # a probe process, stopped with Ctrl-C as a user would
def test_ctrl_c_during_the_fit_stops_the_probe_at_once_and_leaves_nothing(job, tmp_path):
    folder = job_with_more_images(job, tmp_path / "job", tmp_path / "data", n_train=12000)
    before = files_of(folder)
    args = [sys.executable, "-m", "dae.probe", f"run={folder}", f"paths.log_dir={tmp_path / 'logs'}", "probe.n_embed=50", "overwrite=true"]
    log = tmp_path / "output.txt"
    with log.open("w") as out:
        # SIGINT back to its default in the child (a shell starts background jobs with it ignored); a session of its
        # own, so that the Ctrl-C goes to the probe and its workers, as a terminal sends it to the foreground group
        restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
        process = subprocess.Popen(
            args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, preexec_fn=restore, start_new_session=True
        )
        try:
            deadline = time.time() + 180
            while "fit and score SVM" not in log.read_text() and process.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(1)  # the SVMs are fitting: for 12000 vectors, tens of seconds
            workers = children(process.pid)
            os.killpg(process.pid, signal.SIGINT)
            sent = time.time()
            process.wait(timeout=120)
            took = time.time() - sent
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # never leave a fit behind, whatever happened
            except ProcessLookupError:
                pass
    output = log.read_text()
    assert process.returncode == 1 and took < 5, (took, output[-3000:])
    assert output.strip().splitlines()[-1] == f"interrupted: the probe of {folder} was not written; run it again"
    assert "Traceback" not in output and "Warning" not in output, output[-3000:]
    assert files_of(folder) == before  # no report, no figure, no event file
    deadline = time.time() + 5
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert workers and not any(alive(pid) for pid in workers)  # the SVMs' worker processes were stopped too


def test_an_interrupted_probe_says_so_in_one_line_and_leaves_no_event_file(job_copy, tmp_path, monkeypatch):
    import dae.probe

    def interrupted(module, dm, settings, out_dir, writer, *args):
        writer.add_scalar("probe/accuracy", 0.5)  # its event file is made, then the Ctrl-C comes
        raise KeyboardInterrupt

    monkeypatch.setattr(dae.probe, "run_probe", interrupted)
    before = files_of(job_copy)
    with pytest.raises(SystemExit) as stopped:
        run_app(dae.probe.main, *probe_args(job_copy, tmp_path, "overwrite=true"))
    assert stopped.value.code == f"interrupted: the probe of {job_copy} was not written; run it again"
    assert files_of(job_copy) == before

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("{}\n")
    shutil.copytree(job_copy, sweep / "loss=l1")
    (sweep / "loss=l1" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["loss=l1"]))
    with pytest.raises(SystemExit) as stopped:
        run_app(dae.probe.main, *probe_args(sweep, tmp_path, "overwrite=true"))
    summary = sweep / "probe_summary.md"
    assert stopped.value.code == (
        f"interrupted: the probe of {sweep / 'loss=l1'} and {summary} were not written (those of the jobs before it were); run it again"
    )
