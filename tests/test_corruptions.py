"""dae.corruptions and dae.suites: MNIST-C's corruptions, the suite's cache, and the benchmark on a job."""

import csv
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from dae.errors import ConfigError
from dae.suites import MnistC, NoiseLevels, mnist_c
from dae.suites.cache import suite_images
from tests.conftest import ROOT, compose_app, draw_digits, fixture_overrides, run_app

SUITE_NAMES = [
    "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
    "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges",
]  # fmt: skip


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return draw_digits(24, seed=3)[0].astype(np.float64) / 255


def centre_of_mass(x: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[: x.shape[1], : x.shape[2]]
    mass = x.sum((1, 2))
    return np.stack([(x * rows).sum((1, 2)) / mass, (x * cols).sum((1, 2)) / mass], -1)


def test_the_suite_is_mnist_c_fifteen_by_their_names():
    assert list(mnist_c.CORRUPTIONS) == SUITE_NAMES
    assert MnistC().names == SUITE_NAMES and set(MnistC.moving) == {"shear", "scale", "rotate", "translate"}


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_each_corruption_keeps_shape_and_range_changes_the_digits_and_is_seeded(name, digits):
    suite = MnistC()
    out = suite.corrupt(name, digits, suite.rng(name, "test"))
    assert out.shape == digits.shape and out.min() >= 0 and out.max() <= 1
    assert np.abs(out - digits).mean() > 0.01
    again = MnistC().corrupt(name, digits, MnistC().rng(name, "test"))
    assert np.array_equal(out, again)  # the same seed, the same images
    assert not np.array_equal(suite.rng(name, "test").random(4), MnistC(seed=1).rng(name, "test").random(4))


def test_corruptions_do_what_their_names_say(digits):
    suite = MnistC()

    def run(name):
        return suite.corrupt(name, digits, suite.rng(name, "test"))

    assert np.allclose(run("brightness")[digits == 0], 0.5)  # a grey background
    striped = run("stripe")
    assert np.allclose(striped[:, :, :7], 1 - digits[:, :, :7]) and np.array_equal(striped[:, :, 7:21], digits[:, :, 7:21])
    moved = np.abs(centre_of_mass(run("translate")) - centre_of_mass(digits))
    assert np.allclose(np.median(moved, 0), 3, atol=0.5)  # 3 pixels along each axis
    assert (run("scale") > 0.1).sum() < 0.7 * (digits > 0.1).sum()  # shrunk to 0.7 of its size: half the area
    assert set(np.unique(run("canny_edges"))) <= {0.0, 1.0}
    grey = np.full((200, 28, 28), 0.5)
    impulses = suite.corrupt("impulse_noise", grey, suite.rng("impulse_noise", "test"))
    assert abs((impulses != grey).mean() - 0.17) < 0.005 and abs(impulses.mean() - 0.5) < 0.005  # 17% replaced, half by 1
    assert abs(run("shot_noise").mean() - digits.mean()) < 0.01  # Poisson keeps the mean
    fog = run("fog")
    assert fog[digits == 0].mean() > 0.2 and fog.max() <= digits.max()  # a veil, the brightest stroke no brighter


def test_an_unknown_corruption_lists_the_valid_names():
    with pytest.raises(ConfigError, match=r"unknown corruption \['smoke'\] in suite mnist_c; valid names: shot_noise, impulse_noise"):
        MnistC(["fog", "smoke"])
    with pytest.raises(ConfigError, match=r"suite\.levels\.gaussian=\[-1\]"):
        NoiseLevels({"gaussian": {"_target_": "dae.noise.Gaussian"}}, {"gaussian": [-1]})


@pytest.fixture
def datamodule(fixture_data, tmp_path):
    cfg = compose_app("train", [*fixture_overrides(*fixture_data), f"paths.output_dir={tmp_path}"])
    from hydra.utils import instantiate

    dm = instantiate(cfg.data, noise=instantiate(cfg.noise))
    dm.prepare_data()
    dm.setup()
    return dm


def test_suite_is_generated_once_cached_and_regenerated_when_damaged_or_foreign(datamodule, tmp_path, caplog, monkeypatch):
    from dae.suites import cache

    suite = MnistC(["brightness", "zigzag"])
    first = suite_images(suite, datamodule, 20, tmp_path)
    (path,) = (tmp_path / "suites").glob("mnist_c-*.npy")
    assert first.corrupted["test"]["zigzag"].shape == (200, 1, 28, 28) and first.corrupted["val"]["brightness"].shape == (20, 1, 28, 28)
    assert np.array_equal(first.labels["test"], datamodule.images("test").labels.numpy())

    def no_generation(*args):
        raise AssertionError("generated again")

    monkeypatch.setattr(cache, "generate", no_generation)
    again = suite_images(suite, datamodule, 20, tmp_path)
    assert torch.equal(again.corrupted["test"]["zigzag"], first.corrupted["test"]["zigzag"])
    monkeypatch.undo()

    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one damaged pixel
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        repaired = suite_images(suite, datamodule, 20, tmp_path)
    assert "does not match its checksum" in caplog.text
    assert torch.equal(repaired.corrupted["test"]["zigzag"], first.corrupted["test"]["zigzag"])

    meta = json.loads(path.with_suffix(".json").read_text())
    meta["data"]["test_images"] = "0" * 32  # as if written for another dataset
    path.with_suffix(".json").write_text(json.dumps(meta))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        suite_images(suite, datamodule, 20, tmp_path)
    assert "another dataset or suite" in caplog.text


def corruptions_cfg(job, fixture_data, tmp_path, *overrides):
    cfg = compose_app(
        "corruptions", [f"run={job}", f"paths.data_dir={fixture_data[0]}", f"paths.cache_dir={tmp_path / 'cache'}", "n_val=20", *overrides]
    )
    with open_dict(cfg):
        cfg.classical.methods = {"median": {"size": [3]}, "gaussian": {"sigma": [1.0]}}
    return cfg


def test_benchmark_on_a_job_writes_its_tables_figure_and_tensorboard(job_copy, fixture_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dae.corruptions import corruptions

    cfg = corruptions_cfg(job_copy, fixture_data, tmp_path, "suite.corruptions=[impulse_noise,translate,brightness]")
    result = corruptions(cfg)[str(job_copy)]
    out = job_copy / "corruptions"
    rows = list(csv.DictReader((out / "corruptions.csv").open()))
    assert [r["corruption"] for r in rows] == ["clean", "impulse_noise", "translate", "brightness"]
    by_name = {r["corruption"]: r for r in rows}
    assert by_name["translate"]["psnr"] == "" and by_name["translate"]["classical"] == ""  # moved: accuracy only
    impulse = by_name["impulse_noise"]
    assert impulse["classical"].startswith("median") and float(impulse["psnr_classical"]) > float(impulse["psnr_corrupted"]) + 3
    assert float(impulse["psnr"]) > 0 and 0 < float(impulse["ssim"]) < 1
    assert float(by_name["clean"]["acc_corrupted"]) > 0.9 and by_name["clean"]["acc_augmented"] != ""
    saved = json.loads((out / "corruptions.json").read_text())
    assert saved["suite"] == "mnist_c" and saved["summary"] == result["summary"]
    accuracies = [float(r["acc_denoised"]) for r in rows[1:]]
    assert saved["summary"]["mean"]["acc_denoised"] == pytest.approx(np.mean(accuracies))
    assert saved["summary"]["worst"]["acc_denoised"] == pytest.approx(min(accuracies))
    assert "| translate |" in (out / "corruptions.md").read_text()
    assert (out / "corruptions.png").stat().st_size > 5000
    events = EventAccumulator(str(out), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "corruptions/mnist_c" in events.Tags()["images"]
    assert any(tag.startswith("corruptions/mnist_c") for tag in events.Tags()["tensors"])  # the TEXT tab
    # a second run reuses the cached suite and references and gives the same table
    again = corruptions(cfg)[str(job_copy)]
    assert again["summary"] == result["summary"]


def test_a_job_of_another_image_size_is_refused(fixture_data, tmp_path):
    from dae.corruptions import corruptions
    from dae.train import main

    folder = tmp_path / "size40"
    run_app(
        main, f"hydra.run.dir={folder}", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "data.image_size=40",
        "callbacks.classifier_report=null", *fixture_overrides(*fixture_data),
    )  # fmt: skip
    cfg = corruptions_cfg(folder, fixture_data, tmp_path, "suite.corruptions=[brightness]")
    with pytest.raises(ConfigError, match=r"its model takes 36 x 36 digits \(data\.image_size=40\), the suite's are 28 x 28"):
        corruptions(cfg)


def test_no_training_code_imports_the_suite():
    """The suite is a held-out test: training (its command, and every module it loads) never sees it."""
    code = "import sys, dae.train, dae.training; print([m for m in sys.modules if m.startswith(('dae.suites', 'dae.corruptions', 'dae.scoring.corruptions'))])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_noise_levels_suite_corrupts_with_each_project_noise_at_three_levels(digits):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tests.conftest import CONF

    suite = instantiate(OmegaConf.load(CONF / "suite" / "noise_levels.yaml"))
    assert len(suite.names) == 12 and suite.names[:3] == ["gaussian@0.3", "gaussian@0.5", "gaussian@0.7"]
    errors = []
    for name in suite.names[:3]:
        out = suite.corrupt(name, digits, suite.rng(name, "test"))
        assert out.shape == digits.shape and 0 <= out.min() and out.max() <= 1
        errors.append(np.abs(out - digits).mean())
    assert errors[0] < errors[1] < errors[2]  # stronger with the level
    assert suite.moving == () and "noises" in suite.identity()


def test_a_cost_of_exactly_the_allowed_points_is_not_harm():
    from dae.scoring.corruptions import change_in_points, harms

    assert change_in_points(0.9760, 0.9730) == -0.3 and not harms(0.9760, 0.9730)  # 30 of 10,000 digits: allowed
    assert harms(0.9760, 0.9729)  # 31: harm
    assert not harms(0.9690, 0.9000)  # M read the raw digits below 0.97: a cost there is not judged as harm
    assert change_in_points(0.5795, 0.8595) == pytest.approx(28.0)
