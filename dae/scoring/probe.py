"""The SVM probe of the latent space: its settings, fit and score (``python -m dae.probe`` and the
``callbacks=with_probe`` callback run it).

Encodes MNIST's training and test images with a trained encoder (noisy inputs by default),
standardises the latent vectors, fits an SVM on the training vectors and reports it on the
test vectors, next to a control: the same SVM on PCA of the noisy pixels with as many
components as the latent size. Writes ``probe/report.json`` (with the settings, see
:func:`recorded_settings`), ``probe/report.txt`` and ``probe/latent_2d.png`` under the job folder, and
a PROJECTOR embedding to TensorBoard.

Both SVMs fit and predict in worker processes while this process waits: libsvm's C code returns to
Python only when it is done, so a Ctrl-C in a process fitting one would wait for the whole fit. Waiting
instead, this process takes a Ctrl-C at once and stops the workers, and since the files are written only
once everything is computed, an interrupted or failed probe leaves the previous probe's files as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
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
from dae.errors import ConfigError, integer, number, summary
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


def predict_in_two(model, x: np.ndarray, executor) -> np.ndarray:
    """``model.predict(x)``, in two halves in ``executor``'s workers while this process waits: an RBF SVM's
    prediction costs its support vectors times the test vectors, so two processes take about half the time
    of one, and a Ctrl-C stops this process at once (libsvm's C code would hold it to the end)."""
    half = len(x) // 2
    halves = [executor.submit(model.predict, part) for part in (x[:half], x[half:])]
    return np.concatenate([part.result() for part in halves])


def control_key(dm: DenoisingDataModule, settings: ProbeSettings, latent_dim: int) -> str:
    """What the control's result depends on: the data, the noise and the SVM, not the model."""
    identity = {
        "data": dm.source.checksums(),
        "noise": [dm.noise.name, dm.noise.params()],
        "settings": [settings.inputs, settings.kernel, settings.C, settings.gamma, settings.n_train, settings.seed],
        "latent_dim": latent_dim,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def recorded_settings(settings: ProbeSettings, ckpt: str | None = None) -> dict:
    """What a probe's results depend on, as ``probe/report.json`` records them: every setting but
    ``batch_size`` (the encoding's speed alone), and the checkpoint probed (``None``: the job's best)."""
    return {**{f.name: getattr(settings, f.name) for f in fields(ProbeSettings) if f.name != "batch_size"}, "ckpt": ckpt}


def _shown(value) -> str:
    """A setting's value as it is typed on the command line: null, true, false, 10.0, noisy."""
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def other_settings(out_dir: str | Path, recorded: dict) -> str | None:
    """How the probe in ``<out_dir>/probe/report.json`` differs from one with ``recorded`` settings
    (:func:`recorded_settings`), e.g. ``with other settings (probe.n_train: 60000 there, 10000 now)``, or
    ``that records no settings``; ``None`` if there is none or it has the same settings."""
    path = Path(out_dir) / "probe" / "report.json"
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text()).get("settings")
    except (OSError, ValueError, AttributeError) as e:
        return f"that cannot be read ({summary(e)})"
    if not isinstance(old, dict):
        return "that records no settings (an older probe's)"
    named = {key: key if key == "ckpt" else f"probe.{key}" for key in recorded}
    differ = [f"{named[key]}: {_shown(old.get(key))} there, {_shown(new)} now" for key, new in recorded.items() if old.get(key) != new]
    return f"with other settings ({'; '.join(differ)})" if differ else None


def check_replace(out_dirs: list[Path], recorded: dict, overwrite: bool = False) -> None:
    """Refuse, before any work, to replace a probe of other settings (:func:`other_settings`) in any of
    ``out_dirs`` (a job, or every job of a sweep) unless ``overwrite``: the :class:`ConfigError` names the
    first such report, what differs and the fix. A probe of the same settings may be replaced: it holds
    the same results."""
    if overwrite:
        return
    found = [(Path(d) / "probe" / "report.json", why) for d in out_dirs if (why := other_settings(d, recorded))]
    if found:
        (path, why), more = found[0], len(found) - 1
        others = f", and so does probe/report.json in {more} other job(s) of the sweep" if more else ""
        raise ConfigError(
            f"{path} holds a probe {why}{others}; pass overwrite=true to replace "
            f"{'them' if more else 'it'}, or probe with the same settings."
        )


def run_probe(
    module: L.LightningModule,
    dm: DenoisingDataModule,
    settings: ProbeSettings,
    out_dir: str | Path,
    writer=None,
    cache_dir: str | Path | None = None,
    ckpt: str | None = None,
) -> dict:
    """Probe one trained module; write ``probe/`` files under ``out_dir``, once all is computed; return
    the report dict, which records the settings (:func:`recorded_settings`, ``ckpt`` the checkpoint probed).

    The control's accuracy is cached under ``cache_dir`` (if given): it is the same for every
    model probed with the same data, noise and SVM, e.g. every job of a loss sweep."""
    executor = get_memmapping_executor(2)  # joblib's own: a later joblib.Parallel in this process can reuse it
    try:
        found = compute(module, dm, settings, executor, cache_dir)
    except BaseException:  # a Ctrl-C too: the workers are killed now, not left to end their fits, and their shared memory freed
        executor.terminate(kill_workers=True)
        raise
    return write_probe(Path(out_dir) / "probe", found, settings, writer, ckpt)


def compute(module: L.LightningModule, dm: DenoisingDataModule, settings: ProbeSettings, executor, cache_dir: str | Path | None) -> dict:
    """The probe's results, its figure's points and its embedding, nothing written but the control's cache."""
    stages = ["encode train", "encode test", "fit and score SVM", "figures", "control (PCA + SVM)"]
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(stages), desc="probe", unit="stage")

    @contextmanager
    def stage(name: str):
        bar.set_postfix_str(name)
        start = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - start, 2)
        bar.update()

    with bar:  # closed on a Ctrl-C too, so that what is printed next starts on a line of its own
        train_images, train_y, test_images, test_y = probe_inputs(dm, settings)
        with stage("encode train"):
            z_train = encode(module, train_images, settings.batch_size, "encode train")
        with stage("encode test"):
            z_test = encode(module, test_images, settings.batch_size, "encode test")
        # Both SVMs fit in worker processes side by side, after the encoding, which runs on every core.
        # The control is independent of the encoder; its accuracy may be cached.
        fitting = executor.submit(make_pipeline(StandardScaler(), svm(settings)).fit, z_train, train_y)
        latent_dim = int(z_train.shape[1])
        cache = control_cache(dm, settings, latent_dim, cache_dir) if settings.control else None
        control = json.loads(cache.read_text())["accuracy"] if cache is not None and cache.is_file() else None
        control_fit = None
        if settings.control and control is None:
            control_fit = executor.submit(control_model(settings, latent_dim, len(train_y)).fit, pixels(train_images), train_y)
        with stage("fit and score SVM"):
            log.info("probe: fitting the SVM on %d latent vectors of %d dimensions", len(train_y), latent_dim)
            result, text = report(test_y, predict_in_two(fitting.result(), z_test, executor))
        with stage("figures"):
            n = min(settings.n_embed, len(test_y))  # the figure's test images: the first n, the other inputs encoded for them alone
            test = dm.images("test")
            clean_z = z_test[:n] if settings.inputs == "clean" else encode(module, test.clean[:n], settings.batch_size, "encode clean test")
            noisy_z = z_test[:n] if settings.inputs == "noisy" else encode(module, test.noisy[:n], settings.batch_size, "encode noisy test")
            points = (reduce_2d(clean_z, settings), reduce_2d(noisy_z, settings))
        with stage("control (PCA + SVM)"):
            if control_fit is not None:
                control = report(test_y, predict_in_two(control_fit.result(), pixels(test_images), executor))[0]["accuracy"]
                if cache is not None:
                    write_json(cache, {"accuracy": control})
    results = {
        "accuracy": float(result["accuracy"]),
        "control_accuracy": control,
        "inputs": settings.inputs,
        "kernel": settings.kernel,
        "C": settings.C,
        "gamma": settings.gamma,
        "n_train": len(train_y),
        "n_test": len(test_y),
        "latent_dim": latent_dim,
        "seconds": seconds,
        "report": result,
    }
    embedding = (torch.from_numpy(z_test[:n]), test_y[:n], test_images[:n])
    return {"results": results, "text": text, "points": points, "labels": test_y[:n], "embedding": embedding}


def control_cache(dm: DenoisingDataModule, settings: ProbeSettings, latent_dim: int, cache_dir: str | Path | None) -> Path | None:
    """Where the control's accuracy for this data, noise and SVM is cached under ``cache_dir`` (``None``: nowhere)."""
    return Path(cache_dir) / "probe_control" / f"{control_key(dm, settings, latent_dim)}.json" if cache_dir else None


def write_probe(out: Path, found: dict, settings: ProbeSettings, writer, ckpt: str | None) -> dict:
    """Write what :func:`compute` found into ``out``: the figure, the PROJECTOR embedding (to ``writer``),
    ``report.txt``, and ``report.json`` last, with the settings; return the report dict."""
    saved = {**found["results"], "settings": recorded_settings(settings, ckpt)}
    latent_dim, control = saved["latent_dim"], saved["control_accuracy"]
    latent_2d(*found["points"], found["labels"], out / "latent_2d.png", settings, latent_dim)
    if writer is not None:
        vectors, labels, images = found["embedding"]
        writer.add_embedding(vectors, metadata=labels.tolist(), label_img=images, tag=f"latent_{settings.inputs}")
        writer.flush()
    header = (
        f"SVM probe ({settings.kernel}, C={settings.C}, gamma={settings.gamma}) on {settings.inputs} latent vectors: "
        f"{saved['n_train']} train, {saved['n_test']} test\n"
    )
    control_line = (
        f"control (PCA-{latent_dim} of {settings.inputs} pixels + same SVM): accuracy {control:.4f}\n" if control is not None else ""
    )
    write_text(out / "report.txt", header + control_line + "\n" + found["text"])
    write_json(out / "report.json", saved)
    log.info("probe: accuracy %.4f (control %s) -> %s", saved["accuracy"], f"{control:.4f}" if control is not None else "off", out)
    return saved


def reduce_2d(z: np.ndarray, settings: ProbeSettings) -> np.ndarray:
    """Latent vectors in 2-D for :func:`latent_2d`: PCA (seconds) or t-SNE (minutes) of the standardised vectors."""
    z = StandardScaler().fit_transform(z)
    if settings.embedding == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", random_state=settings.seed).fit_transform(z)
    return PCA(n_components=2, random_state=settings.seed).fit_transform(z)


def latent_2d(clean: np.ndarray, noisy: np.ndarray, labels: np.ndarray, path: Path, settings: ProbeSettings, latent_dim: int) -> Path:
    """Test latent vectors in 2-D (:func:`reduce_2d`), coloured by digit: clean and noisy inputs side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, xy) in zip(axes, (("clean inputs", clean), ("noisy inputs", noisy))):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{title} ({settings.embedding.upper()} of {latent_dim}-d latents, {len(xy)} test images)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
    return figures.save(fig, path)
