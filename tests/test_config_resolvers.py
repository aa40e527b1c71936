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
