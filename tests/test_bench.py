"""dae.bench's harness (not its timings): every mode runs and bench.json holds what it says."""

import json
from pathlib import Path

import pytest

from dae.bench import main
from tests.conftest import fixture_overrides, run_app


def test_bench_writes_three_rates_and_two_ratios(fixture_data, tmp_path, capsys):
    outputs = tmp_path / "outputs"
    default_runs = Path.cwd() / "outputs" / "runs"  # where a stray run folder would land, before overrides apply
    runs_before = set(default_runs.iterdir()) if default_runs.is_dir() else set()
    args = [
        "bench.steps=3",
        "bench.project_steps=3",
        "bench.repeats=2",
        "bench.warmup_steps=2",
        "bench.tutorial_workers=0",
        "trainer.precision=32-true",
    ]
    run_app(main, *args, f"paths.log_dir={outputs}", *fixture_overrides(*fixture_data))
    (out,) = (outputs / "bench").iterdir()
    assert sorted(p.name for p in outputs.iterdir()) == ["bench"]
    # Merging bench.yaml over the training config's run folder resolved it, which claimed an empty outputs/runs/<time>/.
    assert (set(default_runs.iterdir()) if default_runs.is_dir() else set()) == runs_before
    result = json.loads((out / "bench.json").read_text())
    assert set(result["samples_per_s"]) == {"bare", "project", "tutorial"}
    assert all(rate > 0 for rate in result["samples_per_s"].values())
    assert all(len(runs) == 2 for runs in result["runs"].values())
    # Benched together, each project epoch is paired with the bare run just before it.
    pairs = [p / b for p, b in zip(result["runs"]["project"], result["runs"]["bare"])]
    assert result["ratio_vs_bare"] == pytest.approx(sum(pairs) / 2)
    assert result["ratio_vs_tutorial"] == result["samples_per_s"]["project"] / result["samples_per_s"]["tutorial"]
    assert result["batch_size"] == 32 and result["precision"] == "32-true"
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("ratio_vs_bare=") and "ratio_vs_tutorial=" in last


def test_bare_alone_is_timed_repeats_times_with_no_ratio(fixture_data, tmp_path):
    outputs = tmp_path / "outputs"
    args = ["bench.modes=[bare]", "bench.steps=2", "bench.repeats=3", "bench.warmup_steps=1", "trainer.precision=32-true"]
    run_app(main, *args, f"paths.log_dir={outputs}", *fixture_overrides(*fixture_data))
    (out,) = (outputs / "bench").iterdir()
    result = json.loads((out / "bench.json").read_text())
    assert list(result["runs"]) == ["bare"] and len(result["runs"]["bare"]) == 3 and "ratio_vs_bare" not in result


def test_bench_rejects_an_unknown_mode_before_any_work(tmp_path):
    with pytest.raises(SystemExit) as exit:
        run_app(main, "bench.modes=[bare,fast]", f"hydra.run.dir={tmp_path / 'b'}", f"paths.data_dir={tmp_path / 'no-data'}")
    assert (
        exit.value.code
        == "error: bench.modes=['bare', 'fast']: each must be one of bare, project, tutorial, inference; e.g. bench.modes=[bare,project]."
    )
    assert not (tmp_path / "no-data").exists() and not (tmp_path / "b").exists()


def test_the_inference_mode_times_three_runtimes_on_each_batch_size(fixture_data, tmp_path, capsys):
    outputs = tmp_path / "outputs"
    args = ["bench.modes=[inference]", "bench.inference_batches=[1,16]", "bench.repeats=1", f"paths.log_dir={outputs}"]
    run_app(main, *args, *fixture_overrides(*fixture_data))
    (out,) = (outputs / "bench").iterdir()
    result = json.loads((out / "bench.json").read_text())
    speeds = result["inference_images_per_s"]
    assert list(speeds) == ["eager", "torchscript", "onnxruntime"] and all(list(s) == ["1", "16"] for s in speeds.values())
    assert all(rate > 0 for s in speeds.values() for rate in s.values()) and result["samples_per_s"] == {}
    printed = capsys.readouterr().out
    assert "inference of the config's network (fresh weights), float32, images/s:" in printed
    assert printed.strip().splitlines()[-1].startswith("onnxruntime")
