"""Callbacks for tests: ones that observe a run from inside each process, and one that signals it."""

import hashlib
import os
from pathlib import Path

import lightning as L


class RankDigest(L.Callback):
    """Writes, per process, a digest of the model's weights at the end of fit
    (``weights_rank<r>.txt``) and of the first training batch it saw (``batch_rank<r>.txt``)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.seen_batch = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not self.seen_batch:
            self.seen_batch = True
            (self.folder / f"batch_rank{trainer.global_rank}.txt").write_text(hashlib.sha256(batch[1].cpu().numpy().tobytes()).hexdigest())

    def on_fit_end(self, trainer, pl_module) -> None:
        digest = hashlib.sha256()
        for name, tensor in sorted(pl_module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        (self.folder / f"weights_rank{trainer.global_rank}.txt").write_text(digest.hexdigest())


class SendSignal(L.Callback):
    """Sends this process ``signum`` (a signal number) at the start of training step ``step``, as
    ``timeout``, systemd, Kubernetes or SLURM would send it from outside."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def job_with_model(job: Path, folder: Path, model: str, lightning_module: str | None = None) -> Path:
    """A copy of the finished ``job`` whose network is ``conf/model/<model>.yaml``'s (its LightningModule
    ``lightning_module`` if given, e.g. the GPU's GraphedDenoiser), with freshly drawn weights saved as its
    only checkpoint: a job folder of that architecture without training one."""
    import shutil

    import torch
    import yaml
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    shutil.copytree(job, folder)
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    GlobalHydra.instance().clear()
    with initialize_config_module(version_base="1.3", config_module="dae.conf"):
        composed = compose("train", overrides=[f"model={model}", "data.image_size=32"])
    config["model"] = OmegaConf.to_container(composed.model, resolve=True)
    if lightning_module:
        config["model"]["_target_"] = lightning_module
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.rmtree(folder / "checkpoints")
    (folder / "checkpoints").mkdir()
    torch.manual_seed(0)
    module = instantiate(OmegaConf.create(config["model"]), loss=torch.nn.L1Loss(), scheduler=None)
    torch.save({"state_dict": module.state_dict(), "epoch": 0}, folder / "checkpoints" / "last.ckpt")
    return folder


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jobs_by_override(sweep: Path, position: int = 0) -> dict[str, Path]:
    """A sweep's job folders by their override at ``position`` in ``.hydra/overrides.yaml`` (folder names are cut:
    the fixture adds many overrides)."""
    folders = [p for p in sweep.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()]
    return {(p / ".hydra" / "overrides.yaml").read_text().splitlines()[position].removeprefix("- "): p for p in folders}
