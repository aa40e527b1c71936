"""Do other classifiers read the autoencoder's outputs better than classifier M?

    python experiments/evaluation/classifier_variants.py <job folder>

Trains four variants of a small CNN on the 60,000 clean training images (3 epochs each, Adam with a
one-cycle schedule; with and without BatchNorm, with random shifts, with shifts and blur) and prints each
one's accuracy on the clean, noisy, denoised and reconstructed (clean through the autoencoder) test
images of the job.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dae.inference import denoise
from dae.jobs import load_job
from dae.loading import build_datamodule, load_model
from dae.scoring.classifier import predict

VARIANTS = (("bn", True, ""), ("nobn", False, ""), ("bn+shift", True, "shift"), ("bn+shift+blur", True, "shift+blur"))


def net(bn: bool = True, ch: tuple[int, ...] = (16, 32, 64)) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = 1
    for c in ch:
        layers += [nn.Conv2d(prev, c, 3, padding=1, bias=not bn)] + ([nn.BatchNorm2d(c)] if bn else []) + [nn.ReLU(), nn.MaxPool2d(2)]
        prev = c
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.25), nn.Linear(prev * (32 // 2 ** len(ch)) ** 2, 10))


def augment(x: torch.Tensor, kind: str) -> torch.Tensor:
    if "shift" in kind:
        pad = F.pad(x, (2, 2, 2, 2))
        dx, dy = torch.randint(0, 5, (2,))
        x = pad[..., dy : dy + 32, dx : dx + 32]
    if "blur" in kind:
        s = float(torch.rand(1)) * 1.0 + 0.01
        k = torch.arange(-2, 3).float()
        k = torch.exp(-(k**2) / (2 * s * s))
        k /= k.sum()
        x = F.conv2d(F.conv2d(x, k.view(1, 1, 1, 5), padding=(0, 2)), k.view(1, 1, 5, 1), padding=(2, 0))
    return x


def fit(x: torch.Tensor, y: torch.Tensor, bn: bool, kind: str, epochs: int = 3, batch: int = 128, lr: float = 3e-3) -> nn.Module:
    m = net(bn)
    opt = torch.optim.Adam(m.parameters(), lr)
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * -(-len(x) // batch))
    m.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(m(augment(x[idx], kind)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sch.step()
    return m


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a job folder: its model denoises the test images")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    job = load_job(args.folder)
    ae, dm = load_model(job), build_datamodule(job)
    train_split, val_split, test = dm.images("train"), dm.images("val"), dm.images("test")
    inputs = {
        "clean": test.clean,
        "noisy": test.noisy,
        "denoised": denoise(ae, test.noisy, precision=job.precision),
        "reconstructed": denoise(ae, test.clean, precision=job.precision),
    }
    x, y = torch.cat([train_split.clean, val_split.clean]), torch.cat([train_split.labels, val_split.labels])
    labels = test.labels.numpy()
    for name, bn, kind in VARIANTS:
        start = time.time()
        m = fit(x, y, bn, kind)
        accuracy = {k: float(np.mean(predict(m, images, batch_size=1000) == labels)) for k, images in inputs.items()}
        print(f"{name}: " + " ".join(f"{k} {v:.4f}" for k, v in accuracy.items()) + f"  ({time.time() - start:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
