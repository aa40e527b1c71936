"""dae.config: the resolvers the configs use (folders, names, precision, strategy, paths)."""

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


def test_a_sweeps_varied_keys_come_first_so_a_long_name_keeps_them(monkeypatch):
    fixed = [f"++callbacks.setting_{i}=value_{i}" for i in range(12)]
    names = {}
    for sigma in ("0.1", "0.3"):
        monkeypatch.delenv("DAE_SWEPT_KEYS", raising=False)
        before = job_dirname([*fixed, f"noise.sigma={sigma}", "loss=l1"])
        monkeypatch.setenv("DAE_SWEPT_KEYS", "noise.sigma,loss")
        names[sigma] = job_dirname([*fixed, f"noise.sigma={sigma}", "loss=l1"])
        assert f"noise.sigma={sigma}" not in before  # cut off the end without the sweep's keys
    assert names["0.1"].startswith("noise.sigma=0.1,loss=l1,") and names["0.3"].startswith("noise.sigma=0.3,loss=l1,")


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


def test_ddp_strategy_is_spawn_only_inside_a_multirun():
    from hydra.core.hydra_config import HydraConfig

    from dae.config import ddp_strategy

    HydraConfig.instance().cfg = None
    assert ddp_strategy() == "ddp"


def test_run_dir_claims_a_fresh_folder_or_the_one_being_resumed(tmp_path):
    from dae.config import run_dir

    assert run_dir(None, str(tmp_path / "runs" / "t")) == str(tmp_path / "runs" / "t") and (tmp_path / "runs" / "t").is_dir()
    assert run_dir(str(tmp_path / "runs" / "t"), "unused") == str(tmp_path / "runs" / "t")
    with pytest.raises(ValueError, match=r"resume=.*nothing does not exist"):
        run_dir(str(tmp_path / "nothing"), "unused")


def test_outputs_and_data_go_under_the_working_directory(tmp_path, monkeypatch):
    from tests.conftest import compose_train

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAE_DATA_DIR", raising=False)
    cfg = compose_train([], tmp_path / "job")
    assert cfg.paths.log_dir == str(tmp_path / "outputs") and cfg.data.source.data_dir == str(tmp_path / "data")
    assert cfg.paths.cache_dir == str(tmp_path / "data" / "cache")
    monkeypatch.setenv("DAE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert compose_train([], tmp_path / "job").data.source.data_dir == str(tmp_path / "elsewhere")
