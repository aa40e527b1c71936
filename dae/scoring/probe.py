"""The SVM probe of the latent space: its settings, fit and score (``python -m dae.probe`` and the
``callbacks=with_probe`` callback run it).

Encodes MNIST's training and test images with a trained encoder (noisy inputs by default),
standardises the latent vectors, fits an SVM on the training vectors and reports it on the
test vectors, next to a control: the same SVM on PCA of the noisy pixels with as many
components as the latent size. Writes ``probe/report.json``, ``probe/report.txt`` and
``probe/latent_2d.png`` under the job folder, and a PROJECTOR embedding to TensorBoard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from joblib.executor import get_memmapping_executor
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm.auto import tqdm

from dae import figures
from dae.data.datamodule import DenoisingDataModule, fixed_noise
from dae.errors import ConfigError, integer, number
from dae.files import write_json, write_text
from dae.inference import EVAL_BATCH_SIZE, evaluating, in_batches
from dae.scoring.classifier import report

log = logging.getLogger(__name__)


@dataclass
class ProbeSettings:
    inputs: str = "noisy"  # noisy | clean
    kernel: str = "rbf"
    C: float = 10.0
    gamma: str | float = "scale"
    n_train: int = 60000
    embedding: str = "pca"  # pca | tsne: how latent_2d.png reduces the vectors
    n_embed: int = 3000  # test vectors drawn in latent_2d.png and sent to the PROJECTOR
    batch_size: int | None = None  # encoding batch; None: by device (dae.inference.EVAL_BATCH_SIZE)
    seed: int = 0
    control: bool = True

    def __post_init__(self) -> None:
        """Every setting checked before any work, naming the value, what is allowed and the fix."""
        choices = {"inputs": ("noisy", "clean"), "embedding": ("pca", "tsne"), "kernel": KERNELS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"probe.{key}={getattr(self, key)!r} is not one of {', '.join(allowed)}; set probe.{key}=<one of them>.")
        self.C = _positive("C", self.C)
        if isinstance(self.gamma, str):
            if self.gamma not in ("scale", "auto"):
                raise ConfigError(f"probe.gamma={self.gamma!r} is not 'scale', 'auto' or a positive number; e.g. probe.gamma=scale.")
        else:
            self.gamma = _positive("gamma", self.gamma)
        lows = {"n_train": 10, "n_embed": 1, "batch_size": 1}
        for key, low in lows.items():
            value = getattr(self, key)
            if key == "batch_size" and value is None:
                continue
            if integer(f"probe.{key}", value) < low:
                hint = {"n_train": " (default 60000)", "batch_size": f", or null (by device: {EVAL_BATCH_SIZE})"}.get(key, "")
                raise ConfigError(f"probe.{key}={value!r} must be at least {low}{hint}.")
        integer("probe.seed", self.seed)
        if not isinstance(self.control, bool):
            raise ConfigError(f"probe.control={self.control!r} must be true or false.")


KERNELS = ("linear", "poly", "rbf", "sigmoid")  # scikit-learn's SVC kernels


def _positive(key: str, value) -> float:
    """A positive number, or a ConfigError naming ``probe.<key>``."""
    if number(f"probe.{key}", value) <= 0:
        raise ConfigError(f"probe.{key}={value!r} must be a positive number; e.g. probe.{key}=1.0.")
    return float(value)


def encode(module: L.LightningModule, images: torch.Tensor, batch_size: int | None, desc: str | None = None) -> np.ndarray:
    """Latent vectors of [0, 1] images, in batches on the module's device."""
    with evaluating(module):
        return in_batches(lambda x: module.encode(x).flatten(1), images, module.device, batch_size, desc).numpy()


def probe_inputs(dm: DenoisingDataModule, settings: ProbeSettings) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """Training and test images for the probe: all training images (train + validation, 60,000 for
    MNIST), subsampled to ``n_train``; the test set. Noisy ones carry the run's noise with a fixed
    seed (the test images are the same fixed noisy images as in training)."""
    train, val, test = dm.images("train"), dm.images("val"), dm.images("test")
    train_x, train_y = torch.cat([train.clean, val.clean]), torch.cat([train.labels, val.labels]).numpy()
    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(settings.seed))[: settings.n_train].sort().values
    train_x, train_y = train_x[pick], train_y[pick]
    if settings.inputs == "noisy":
        return fixed_noise(dm.noise, train_x, "probe_train"), train_y, test.noisy, test.labels.numpy()
    return train_x, train_y, test.clean, test.labels.numpy()


def svm(settings: ProbeSettings) -> SVC:
    return SVC(kernel=settings.kernel, C=settings.C, gamma=settings.gamma, cache_size=1000)


def pixels(images: torch.Tensor, crop: int = 2) -> np.ndarray:
    """The original 28 x 28 area of padded images, one row per image."""
    return images[..., crop:-crop, crop:-crop].flatten(1).numpy()


def control_model(settings: ProbeSettings, latent_dim: int, n_train: int):
    """The control: PCA of the pixels to as many components as the latent size, then the same SVM.
    PCA's own scale is kept (no standardising), which suits an RBF kernel on pixels."""
    return make_pipeline(PCA(n_components=min(latent_dim, n_train - 1), random_state=settings.seed), svm(settings))


def fit_and_score(model, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> tuple[dict, str]:
    """Fit ``model`` and return its classification report on the test vectors."""
    return report(y_test, model.fit(x_train, y_train).predict(x_test))


def predict_in_two(model, x: np.ndarray, executor) -> np.ndarray:
    """``model.predict(x)``, the second half in ``executor``'s worker while this process does the
    first: an RBF SVM's prediction costs its support vectors times the test vectors, so two
    processes take about half the time of one."""
    half = len(x) // 2
    second = executor.submit(model.predict, x[half:])
    return np.concatenate([model.predict(x[:half]), second.result()])


def control_key(dm: DenoisingDataModule, settings: ProbeSettings, latent_dim: int) -> str:
    """What the control's result depends on: the data, the noise and the SVM, not the model."""
    identity = {
        "data": dm.source.checksums(),
        "noise": [dm.noise.name, dm.noise.params()],
        "settings": [settings.inputs, settings.kernel, settings.C, settings.gamma, settings.n_train, settings.seed],
        "latent_dim": latent_dim,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def run_probe(
    module: L.LightningModule,
    dm: DenoisingDataModule,
    settings: ProbeSettings,
    out_dir: str | Path,
    writer=None,
    cache_dir: str | Path | None = None,
) -> dict:
    """Probe one trained module; write ``probe/`` files under ``out_dir``; return the report dict.

    The control's accuracy is cached under ``cache_dir`` (if given): it is the same for every
    model probed with the same data, noise and SVM, e.g. every job of a loss sweep."""
    out = Path(out_dir) / "probe"
    stages = ["encode train", "encode test", "fit and score SVM", "figures", "control (PCA + SVM)"]
    bar = tqdm(total=len(stages), desc="probe", unit="stage")
    seconds: dict[str, float] = {}

    @contextmanager
    def stage(name: str):
        bar.set_postfix_str(name)
        start = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - start, 2)
        bar.update()

    train_images, train_y, test_images, test_y = probe_inputs(dm, settings)
    with stage("encode train"):
        z_train = encode(module, train_images, settings.batch_size, "encode train")
    with stage("encode test"):
        z_test = encode(module, test_images, settings.batch_size, "encode test")
    # The control is independent of the encoder: it fits in a second process while this one fits the
    # probe, and both processes then predict half of its test vectors. It starts after the encoding,
    # which runs on every core and would otherwise share them with the control's PCA.
    control_job = control = cached = executor = None
    if settings.control:
        latent_dim = z_train.shape[1]
        cached = Path(cache_dir) / "probe_control" / f"{control_key(dm, settings, latent_dim)}.json" if cache_dir else None
        if cached is not None and cached.is_file():
            control = json.loads(cached.read_text())["accuracy"]
        else:
            pipeline = control_model(settings, latent_dim, len(train_y))
            executor = get_memmapping_executor(1)  # joblib's own: a later joblib.Parallel in this process can reuse it
            control_job = executor.submit(pipeline.fit, pixels(train_images), train_y)  # returns the fitted pipeline
    with stage("fit and score SVM"):
        result, text = fit_and_score(make_pipeline(StandardScaler(), svm(settings)), z_train, train_y, z_test, test_y)
    with stage("figures"):
        n = min(settings.n_embed, len(test_y))  # the figure's test images: the first n, the other inputs encoded for them alone
        test = dm.images("test")
        clean_z = z_test[:n] if settings.inputs == "clean" else encode(module, test.clean[:n], settings.batch_size, "encode clean test")
        noisy_z = z_test[:n] if settings.inputs == "noisy" else encode(module, test.noisy[:n], settings.batch_size, "encode noisy test")
        latent_2d(clean_z, noisy_z, test_y[:n], out / "latent_2d.png", settings)
        if writer is not None:
            writer.add_embedding(
                torch.from_numpy(z_test[:n]), metadata=test_y[:n].tolist(), label_img=test_images[:n], tag=f"latent_{settings.inputs}"
            )
            writer.flush()
    with stage("control (PCA + SVM)"):
        if control_job is not None:
            control = report(test_y, predict_in_two(control_job.result(), pixels(test_images), executor))[0]["accuracy"]
            if cached is not None:
                write_json(cached, {"accuracy": control})
    bar.close()

    summary = {
        "accuracy": float(result["accuracy"]),
        "control_accuracy": control,
        "inputs": settings.inputs,
        "kernel": settings.kernel,
        "C": settings.C,
        "gamma": settings.gamma,
        "n_train": len(train_y),
        "n_test": len(test_y),
        "latent_dim": int(z_train.shape[1]),
        "seconds": seconds,
        "report": result,
    }
    write_json(out / "report.json", summary)
    header = f"SVM probe ({settings.kernel}, C={settings.C}, gamma={settings.gamma}) on {settings.inputs} latent vectors: {len(train_y)} train, {len(test_y)} test\n"
    control_line = (
        f"control (PCA-{z_train.shape[1]} of {settings.inputs} pixels + same SVM): accuracy {control:.4f}\n" if control is not None else ""
    )
    write_text(out / "report.txt", header + control_line + "\n" + text)
    log.info("probe: accuracy %.4f (control %s) -> %s", summary["accuracy"], f"{control:.4f}" if control is not None else "off", out)
    return summary


def latent_2d(clean: np.ndarray, noisy: np.ndarray, labels: np.ndarray, path: Path, settings: ProbeSettings) -> Path:
    """Test latent vectors in 2-D, coloured by digit: clean and noisy inputs side by side."""
    import matplotlib.pyplot as plt

    def reduce(z: np.ndarray) -> np.ndarray:
        z = StandardScaler().fit_transform(z)
        if settings.embedding == "tsne":
            from sklearn.manifold import TSNE

            return TSNE(n_components=2, init="pca", random_state=settings.seed).fit_transform(z)
        return PCA(n_components=2, random_state=settings.seed).fit_transform(z)

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, z) in zip(axes, (("clean inputs", clean), ("noisy inputs", noisy))):
        xy = reduce(z)
        points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{title} ({settings.embedding.upper()} of {z.shape[1]}-d latents, {len(z)} test images)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
    return figures.save(fig, path)
