"""The speed benchmark's harness (not its timings): every mode runs and the file holds what it says."""

import json

from dae.config import PROJECT_ROOT
from tests.conftest import fixture_overrides, run_module


def test_bench_writes_three_rates_and_two_ratios(fixture_data, tmp_path):
    outputs = tmp_path / "outputs"
    default_runs = PROJECT_ROOT / "outputs" / "runs"  # where a stray run folder would land, before overrides apply
    runs_before = set(default_runs.iterdir()) if default_runs.is_dir() else set()
    done = run_module(
        "dae.bench",
        "bench.steps=3",
        "bench.project_steps=3",
        "bench.repeats=2",
        "bench.tutorial_workers=1",
        "trainer.precision=32-true",
        f"paths.log_dir={outputs}",
        *fixture_overrides(*fixture_data),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (out,) = (outputs / "bench").iterdir()
    assert sorted(p.name for p in outputs.iterdir()) == ["bench"]
    # Merging bench.yaml over the training config's run folder resolved it, which claimed an empty outputs/runs/<time>/.
    assert (set(default_runs.iterdir()) if default_runs.is_dir() else set()) == runs_before
    result = json.loads((out / "bench.json").read_text())
    assert set(result["samples_per_s"]) == {"bare", "project", "tutorial"}
    assert all(rate > 0 for rate in result["samples_per_s"].values())
    assert all(len(runs) == 2 for runs in result["runs"].values())
    assert result["ratio_vs_bare"] == result["samples_per_s"]["project"] / result["samples_per_s"]["bare"]
    assert result["ratio_vs_tutorial"] == result["samples_per_s"]["project"] / result["samples_per_s"]["tutorial"]
    assert result["batch_size"] == 32 and result["precision"] == "32-true"
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio_vs_bare=") and "ratio_vs_tutorial=" in last


def test_bench_rejects_an_unknown_mode_before_any_work(tmp_path):
    done = run_module("dae.bench", "bench.modes=[bare,fast]", f"hydra.run.dir={tmp_path / 'b'}")
    assert done.returncode != 0
    assert "bench.modes=['bare', 'fast']" in done.stderr and "bare, project, tutorial" in done.stderr
