"""dae.load: one call for a job folder, a pretrained folder or an ONNX file; images in and out in their own type."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import dae
from dae.errors import ConfigError, JobError, ModelFileError
from dae.jobs import load_job
from dae.loading import build_datamodule
from tests.conftest import draw_digits


@pytest.fixture(scope="module")
def digits():
    images, _ = draw_digits(4, seed=9)
    return images  # (4, 28, 28) uint8


def test_a_job_folder_denoises_as_its_lightning_module_does(job, digits):
    d = dae.load(job)
    assert d.job.folder == job and d.precision == load_job(job).precision
    digits = build_datamodule(load_job(job)).images("test").noisy[:8, :, 2:30, 2:30]  # the 28 x 28 digit area
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=d.precision == "bf16-mixed"):
        want = d.module(torch.nn.functional.pad(digits, (2, 2, 2, 2))).float().clamp(0, 1)[..., 2:30, 2:30]  # padded with 0, as in training
    got = d(digits)
    assert got.shape == (8, 1, 28, 28) and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-6)


def test_each_type_and_shape_comes_back_as_it_went_in(job, digits):
    d = dae.load(job)
    one = digits[0]
    out = d(one)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (28, 28)
    batch = d(digits.astype(np.float32) / 255)
    assert batch.dtype == np.float32 and batch.shape == (4, 28, 28) and 0 <= batch.min() and batch.max() <= 1
    assert np.abs(batch[0] * 255 - out).max() <= 1  # the same digit, 8-bit or float
    image = Image.fromarray(one).resize((56, 70))
    back = d(image)
    assert isinstance(back, Image.Image) and back.size == (56, 70) and back.mode == "L"
    rgb = d([image.convert("RGB"), image])
    assert isinstance(rgb, list) and [r.size for r in rgb] == [(56, 70)] * 2
    assert np.array_equal(np.asarray(rgb[0]), np.asarray(rgb[1]))  # colour is converted to gray first
    tensor = torch.from_numpy(digits).float().div(255).unsqueeze(1).to(torch.float64)
    t = d(tensor)
    assert isinstance(t, torch.Tensor) and t.shape == (4, 1, 28, 28) and t.dtype == torch.float64
    sixteen = digits[1].astype(np.uint16) * 257
    assert d(sixteen).dtype == np.uint16 and abs(int(d(sixteen).max()) - 257 * int(d(digits[1]).max())) <= 2 * 257


def test_invert_handles_dark_strokes_on_light_paper(job, digits):
    d = dae.load(job)
    light = 255 - digits[2]
    assert np.abs(d(light, invert=True).astype(int) - (255 - d(digits[2]).astype(int))).max() <= 1


def test_encode_gives_one_latent_vector_per_image(job, digits):
    d = dae.load(job)
    latent_dim = load_job(job).cfg.model.net.latent_dim
    assert d.encode(digits[0]).shape == (latent_dim,)
    assert d.encode(digits).shape == (4, latent_dim) and isinstance(d.encode(digits), np.ndarray)
    z = d.encode(torch.from_numpy(digits).float().div(255).unsqueeze(1))
    assert isinstance(z, torch.Tensor) and z.shape == (4, latent_dim)
    assert np.allclose(d.encode([Image.fromarray(digits[0])]), d.encode(digits[:1]), atol=1e-5)


def test_images_of_the_wrong_kind_are_refused_with_what_is_expected(job):
    d = dae.load(job)
    with pytest.raises(ConfigError, match=r"shape \(2, 3, 28, 28\) cannot be denoised; expected gray images"):
        d(np.zeros((2, 3, 28, 28), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"a str cannot be denoised; expected a numpy array, a PIL image, a torch tensor"):
        d("digit.png")
    with pytest.raises(ConfigError, match=r"int64 pixels cannot be denoised"):
        d(np.zeros((28, 28), dtype=np.int64))
    with pytest.raises(ConfigError, match="no images given"):
        d([])


def test_a_folder_that_is_no_model_is_named(tmp_path):
    with pytest.raises(ModelFileError, match=rf"{tmp_path} is not a trained denoiser: expected a job folder .*, a pretrained folder"):
        dae.load(tmp_path)
    with pytest.raises(ModelFileError, match=r"does not exist; expected a job folder"):
        dae.load(tmp_path / "missing")
    (tmp_path / "multirun.yaml").write_text("{}")
    with pytest.raises(ModelFileError, match=r"It is a sweep folder: pass one of its jobs"):
        dae.load(tmp_path)


@pytest.fixture
def pretrained(job, tmp_path):
    from dae.export import run
    from tests.conftest import compose_app

    folder = tmp_path / "pretrained"
    run(
        compose_app(
            "export",
            [f"run={job}", f"output={folder}", "format=pretrained", "n_check=50", f"paths.data_dir={load_job(job).cfg.paths.data_dir}"],
        )
    )
    return folder


def test_a_pretrained_folder_loads_without_the_job(pretrained, job, digits):
    d, from_job = dae.load(pretrained), dae.load(job)
    assert d.job is None and d.precision is None
    x = digits.astype(np.float32) / 255
    assert np.abs(d(x) - from_job(x)).max() < 0.02  # float32 here, the job's own precision (bf16 where the CPU computes it natively) there
    from dae.pretrained import PretrainedDenoiser

    hub = PretrainedDenoiser.from_pretrained(pretrained)  # huggingface_hub's own entry point, on a local folder
    with torch.no_grad():
        assert torch.equal(hub(torch.from_numpy(x).unsqueeze(1)), d.model(torch.from_numpy(x).unsqueeze(1)))


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_pretrained_folder_is_data_and_never_names_code(pretrained, tmp_path, monkeypatch):
    import importlib

    imported = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real(name, *a))
    edit_config(pretrained, architecture="os.system", arguments={"command": f"touch {tmp_path / 'pwned'}"})
    with pytest.raises(
        ModelFileError, match=r"config.json: architecture='os.system' is not one of this project's networks \(conv_ae, unet_ae"
    ):
        dae.load(pretrained)
    edit_config(pretrained, architecture="conv_ae", arguments={"_target_": "os.system", "command": "true"})
    with pytest.raises(ModelFileError, match=r"do not build conv_ae"):
        dae.load(pretrained)
    edit_config(pretrained, architecture="conv_ae", arguments={"latent_dim": {"_target_": "builtins.eval"}})
    with pytest.raises(ModelFileError, match=r"must be an object of numbers, strings, booleans and lists"):
        dae.load(pretrained)
    assert not (tmp_path / "pwned").exists() and not imported


def test_weights_that_do_not_fit_the_architecture_are_named(pretrained):
    edit_config(pretrained, arguments={"latent_dim": 64, "image_size": 32})
    with pytest.raises(
        ModelFileError, match=rf"{pretrained / 'model.safetensors'} does not fit the conv_ae .*of other shapes \['net.encoder.to_latent"
    ):
        dae.load(pretrained)
    edit_config(pretrained, architecture="unet_ae", arguments={"image_size": 32})
    with pytest.raises(ModelFileError, match=r"tensors missing \[.*unexpected \["):
        dae.load(pretrained)
    (pretrained / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelFileError, match=r"model.safetensors cannot be read as safetensors"):
        dae.load(pretrained)
    (pretrained / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"config.json cannot be read as JSON"):
        dae.load(pretrained)


def test_a_job_whose_checkpoint_is_foreign_is_a_job_error(job, tmp_path):
    copy = shutil.copytree(job, tmp_path / "job")
    for ckpt in (copy / "checkpoints").glob("*.ckpt"):
        torch.save({"state_dict": {"net.other.weight": torch.zeros(1)}}, ckpt)
    with pytest.raises(JobError, match=r"does not fit this job's model"):
        dae.load(copy)


def test_tensors_of_bytes_16_bit_images_and_batches_of_tensors_keep_their_kind(job, digits):
    d = dae.load(job)
    as_bytes = torch.from_numpy(digits)  # (4, 28, 28) uint8, 0-255
    out = d(as_bytes)
    assert out.dtype == torch.uint8 and out.shape == (4, 28, 28)
    assert np.abs(out.numpy().astype(int) - d(digits).astype(int)).max() <= 1
    assert d.encode(as_bytes.float() / 255).shape == (4, load_job(job).cfg.model.net.latent_dim)  # a 3-D tensor is N images
    sixteen = Image.fromarray(digits[0].astype(np.uint16) * 257)  # a 16-bit image, not clipped to 8 bits
    assert np.abs(np.asarray(d(sixteen), dtype=np.float64) / 257 - d(digits[0])).max() <= 1.5
    with pytest.raises(ConfigError, match=r"looks like a colour image \(H, W, channels\); convert it to gray"):
        d(np.zeros((28, 28, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"float pixels must be in \[0, 1\]; these range from 0 to \d+: divide 8-bit values by 255"):
        d(digits[0].astype(np.float32))
    with pytest.raises(ConfigError, match=r"holds no image"):
        d(np.zeros((0, 28, 28), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"a tensor of torch.int64 pixels cannot be denoised"):
        d(as_bytes.long())


def test_a_checkpoint_is_only_for_a_job_and_preprocessing_is_checked_as_data(pretrained):
    with pytest.raises(ModelFileError, match=r"ckpt=x.ckpt is for a job folder's checkpoints; .* is not a job folder"):
        dae.load(pretrained, ckpt="x.ckpt")
    edit_config(pretrained, preprocessing={"digit_size": 28, "padding": 7})
    with pytest.raises(ModelFileError, match=r"digit_size=28 and padding=7 do not make the network's image_size=32"):
        dae.load(pretrained)
    edit_config(pretrained, preprocessing=["a", "list"])
    with pytest.raises(ModelFileError, match=r"preprocessing=\['a', 'list'\] must be an object with whole numbers"):
        dae.load(pretrained)
    edit_config(pretrained, preprocessing={"digit_size": 28, "padding": 2}, arguments={"image_size": 32, "latent_dim": 0})
    with pytest.raises(ModelFileError, match=r"do not build conv_ae \(\w+Error: .*export the model again"):
        dae.load(pretrained)
