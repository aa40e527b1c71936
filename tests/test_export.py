"""python -m dae.export: a pretrained folder, ONNX and TorchScript, each checked against the PyTorch model,
for every model; nothing half-written, nothing replaced without overwrite=true."""

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch

import dae
from dae.errors import ModelFileError
from dae.jobs import load_job
from tests.conftest import compose_app
from tests.helpers import job_with_model

EXPORTS = {"pretrained": "pretrained", "onnx": "model.onnx", "torchscript": "model.torchscript.pt"}


def export(job, output, fmt, *extra):
    from dae.export import run

    data_dir = load_job(job).cfg.paths.data_dir
    return run(
        compose_app("export", [f"run={job}", f"output={output}", f"format={fmt}", "n_check=200", f"paths.data_dir={data_dir}", *extra])
    )


def noisy_digits(job, n=64):
    from dae.loading import build_datamodule

    return build_datamodule(load_job(job)).images("test").noisy[:n, :, 2:30, 2:30]


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_each_format_is_checked_on_export_and_loads_back_with_dae_load(job, tmp_path, fmt):
    output = tmp_path / EXPORTS[fmt]
    result = export(job, output, fmt)
    assert result["images"] == 200 and result["max_abs_diff"] <= 1e-4 and result["latent_max_abs_diff"] <= 1e-4
    assert result["bytes"] > 1e6  # the weights are there: conv_ae's 1.6 M parameters in float32
    if fmt == "onnx":
        assert result["opset"] >= 18
    exported = dae.load(output) if fmt != "torchscript" else None
    digits = noisy_digits(job)
    from dae.exporting import plain_model
    from dae.loading import load_model

    model = plain_model(load_job(job), load_model(load_job(job)))
    with torch.no_grad():
        want = model(digits)
    if exported is not None:
        assert (exported(digits) - want).abs().max() <= 1e-4
        assert exported.encode(digits).shape == (64, load_job(job).cfg.model.net.latent_dim)
    assert not list(tmp_path.glob(".*part*"))  # no scratch left beside it


def test_onnx_takes_any_batch_size_and_states_its_preprocessing(job, tmp_path):
    import onnxruntime as ort

    path = tmp_path / "model.onnx"
    export(job, path, "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (digits,) = session.get_inputs()
    assert digits.name == "digits" and digits.shape[1:] == [1, 28, 28] and not isinstance(digits.shape[0], int)
    assert [o.name for o in session.get_outputs()] == ["denoised", "latent"]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["preprocessing"]) == {"digit_size": 28, "padding": 2, "value_range": [0, 1], "background": "black"}
    for n in (1, 7, 300):
        y, z = session.run(None, {"digits": np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32)})
        assert y.shape == (n, 1, 28, 28) and z.shape[0] == n and 0 <= y.min() and y.max() <= 1


def test_torchscript_runs_without_the_project(job, tmp_path):
    path = tmp_path / "model.torchscript.pt"
    export(job, path, "torchscript")
    digits = noisy_digits(job, 16)
    torch.save(digits, tmp_path / "digits.pt")
    script = (
        "import sys; sys.modules['dae'] = None\n"  # importing dae now fails: the file must stand alone
        "import torch\n"
        f"m = torch.jit.load({str(path)!r})\n"
        f"y, z = m(torch.load({str(tmp_path / 'digits.pt')!r}))\n"
        f"torch.save(y, {str(tmp_path / 'y.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=120)
    assert (torch.load(tmp_path / "y.pt") - dae.load(job).model.float()(digits)).abs().max() <= 1e-4


def test_the_model_card_is_written_from_the_run(job, tmp_path):
    folder = tmp_path / "pretrained"
    export(job, folder, "pretrained")
    card = (folder / "README.md").read_text()
    metrics = json.loads((job / "metrics.json").read_text())
    report = json.loads((job / "classifier_report.json").read_text())
    assert card.startswith("---\nlibrary_name: dae\n") and "# conv_ae denoiser: MNIST digits, gaussian noise (sigma = 0.5)" in card
    assert f"| {metrics['test/psnr']:.2f} | {metrics['test/noisy_psnr']:.2f} | {metrics['test/ssim']:.4f} |" in card
    assert f"{report['denoised']['accuracy']:.4f}" in card
    assert shlex.join(["python", "-m", "dae.train", *load_job(job).overrides]) in card  # a command that runs as copied
    assert "![reconstructions](reconstructions.png)" in card and (folder / "reconstructions.png").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "conv_ae" and config["arguments"]["latent_dim"] == load_job(job).cfg.model.net.latent_dim
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "reconstructions.png"]


def test_push_to_hub_and_from_pretrained_follow_the_hub_convention_up_to_the_network(job, tmp_path, monkeypatch):
    """The Hub cannot be reached here: the calls that would reach it are replaced, and what they are given is checked."""
    import huggingface_hub
    from huggingface_hub import HfApi

    from dae.pretrained import PretrainedDenoiser

    folder = tmp_path / "pretrained"
    export(job, folder, "pretrained")
    model = PretrainedDenoiser.from_pretrained(folder)
    uploaded = {}

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update(repo_id=repo_id, files=sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir()))

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    model.push_to_hub("someone/dae-conv-ae")
    assert uploaded == {"repo_id": "someone/dae-conv-ae", "files": ["README.md", "config.json", "model.safetensors"]}
    monkeypatch.setattr(huggingface_hub.hub_mixin, "hf_hub_download", lambda repo_id, filename, **kwargs: str(folder / filename))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kwargs: str(folder))
    hub = PretrainedDenoiser.from_pretrained("someone/dae-conv-ae")
    assert all(torch.equal(a, b) for a, b in zip(hub.state_dict().values(), model.state_dict().values()))


def test_an_existing_output_is_kept_unless_overwrite(job, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"mine")
    with pytest.raises(dae.errors.ConfigError, match=rf"output={path} exists; pass overwrite=true to replace it"):
        export(job, path, "onnx")
    assert path.read_bytes() == b"mine"
    export(job, path, "onnx", "overwrite=true")
    assert path.stat().st_size > 1e6
    with pytest.raises(ModelFileError, match=r"is a file; format=pretrained writes a folder"):
        export(job, path, "pretrained", "overwrite=true")
    with pytest.raises(ModelFileError, match=r"format=keras is not one of pretrained, onnx, torchscript"):
        export(job, tmp_path / "x", "keras")


def test_a_failed_export_names_the_format_and_writes_nothing(job, tmp_path, monkeypatch):
    import dae.exporting

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("unsupported operator aten::foo")))
    with pytest.raises(
        ModelFileError, match=r"format=onnx: torch's exporter could not export this model \(RuntimeError: unsupported operator"
    ):
        export(job, tmp_path / "model.onnx", "onnx")
    monkeypatch.undo()
    monkeypatch.setattr(dae.exporting, "TOLERANCE", -1.0)  # no export can pass: the check must refuse it
    for fmt, name in EXPORTS.items():
        with pytest.raises(ModelFileError, match=rf"format={fmt}: the exported model differs from the PyTorch model .*nothing was written"):
            export(job, tmp_path / name, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, no folder, no scratch


def test_a_network_that_is_not_the_projects_cannot_be_a_pretrained_folder(job, tmp_path, monkeypatch):
    import dae.exporting

    monkeypatch.setattr(dae.exporting, "ARCHITECTURES", {})
    with pytest.raises(
        ModelFileError, match=r"model.net._target_=dae.models.ConvAutoencoder is not one of the networks .*export it as onnx or torchscript"
    ):
        export(job, tmp_path / "pretrained", "pretrained")
    assert not (tmp_path / "pretrained").exists()


@pytest.mark.slow  # an export of each of four more networks in three formats: about a minute
@pytest.mark.parametrize(
    "model,module",
    [("unet_ae", None), ("attention_ae", None), ("vae", None), ("conv_ae", "dae.speedups.cuda_graphs.GraphedDenoiser")],
    ids=["unet_ae", "attention_ae", "vae", "conv_ae-trainer=gpu"],
)
def test_every_model_exports_in_every_format(job, tmp_path, model, module):
    """The VAE exports its mean path; a run of trainer=gpu (GraphedDenoiser) exports as any other."""
    folder = job_with_model(job, tmp_path / "job", model, module)
    digits = noisy_digits(folder, 32)
    reference = dae.load(folder)
    for fmt, name in EXPORTS.items():
        result = export(folder, tmp_path / name, fmt)
        assert result["max_abs_diff"] <= 1e-4, (fmt, result)
        if fmt != "torchscript":
            with torch.no_grad():
                assert (dae.load(tmp_path / name)(digits) - reference.model.float()(digits)).abs().max() <= 1e-4


def test_one_check_image_still_exports_a_dynamic_batch_and_a_pretrained_folder_is_replaced_whole(job, tmp_path):
    path = tmp_path / "model.onnx"
    assert export(job, path, "onnx", "n_check=1")["images"] == 1
    import onnxruntime as ort

    y, _ = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"digits": np.zeros((5, 1, 28, 28), np.float32)})
    assert y.shape == (5, 1, 28, 28)
    folder = tmp_path / "pretrained"
    export(job, folder, "pretrained")
    (folder / "notes.txt").write_text("mine")
    export(job, folder, "pretrained", "overwrite=true")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "reconstructions.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "pretrained"]  # nothing set aside is left
    link = tmp_path / "link"
    link.symlink_to(folder)
    with pytest.raises(ModelFileError, match=rf"output={link} is a link"):
        export(job, link, "pretrained", "overwrite=true")
