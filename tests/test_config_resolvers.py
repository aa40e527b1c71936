import pytest

from dae.config import MAX_DIRNAME, job_dirname, unique_dir


def test_unique_dir_never_hands_out_a_folder_twice(tmp_path):
    base = tmp_path / "runs" / "2026-01-01_00-00-00"
    first, second, third = unique_dir(str(base)), unique_dir(str(base)), unique_dir(str(base))
    assert first == str(base)
    assert second == f"{base}_1" and third == f"{base}_2"
    assert all(__import__("os").path.isdir(p) for p in (first, second, third))


def test_job_dirname_is_sorted_overrides_without_locations():
    name = job_dirname(["noise=speckle", "data.batch_size=8", "loss=l1", "paths.data_dir=/x/y", "data.source.mirrors=[]"])
    assert name == "loss=l1,noise=speckle,data.batch_size=8"
    assert job_dirname([]) == "default"
    assert "/" not in job_dirname(["model.net.channels=[8/2]"])


def test_job_dirname_is_bounded_and_still_distinct():
    long_a = job_dirname([f"model.net.channels=[{','.join(['64'] * 40)}]", "loss=l1"])
    long_b = job_dirname([f"model.net.channels=[{','.join(['64'] * 40)}]", "loss=mse"])
    assert len(long_a) == len(long_b) == MAX_DIRNAME
    assert long_a != long_b


def test_run_paths_with_equals_signs_are_quoted_for_hydra():
    from dae.jobs import quote_path_overrides

    argv = ["prog", "run=outputs/multirun/t/loss=l1", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]
    assert quote_path_overrides(argv) == ["prog", "run='outputs/multirun/t/loss=l1'", "ckpt='a=b.ckpt'", "probe.C=3", "run=plain/path"]


@pytest.mark.parametrize("native", [True, False])
def test_fast_precision_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, native):
    import torch

    from dae.config import fast_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert fast_precision("cpu") == ("bf16-mixed" if native else "32-true")
    if not torch.cuda.is_available():
        assert fast_precision("auto") == fast_precision("cpu")
        assert fast_precision("gpu") == "32-true"  # no GPU to ask: the safe choice
