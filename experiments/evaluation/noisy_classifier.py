"""A supervised reference for the SVM probe: how much of the digit does a job's noise leave?

    python experiments/evaluation/noisy_classifier.py <job folder> [epochs] [channels, e.g. 16,32,64]

Trains a CNN (dae.models.DigitCNN, classifier M's network) with labels directly on noisy training images
(all 60,000: fresh noise for every batch, the job's noise at its level; Adam with a one-cycle schedule) and
reports it on the job's fixed noisy test images, the very images the probe and classifier M are judged on.
No autoencoder is involved. Prints the test accuracy after each epoch, then the final one.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from dae.jobs import load_job
from dae.loading import build_datamodule
from dae.models import DigitCNN
from dae.scoring.classifier import predict


def train(folder: str, epochs: int, channels: tuple[int, ...], batch: int = 128, lr: float = 3e-3) -> float:
    job = load_job(folder)
    torch.manual_seed(0)
    dm = build_datamodule(job)
    train_split, val_split, test = dm.images("train"), dm.images("val"), dm.images("test")
    x_train = torch.cat([train_split.clean, val_split.clean])  # all 60,000 training images: nothing is tuned on validation here
    y_train = torch.cat([train_split.labels, val_split.labels])
    net = DigitCNN(channels=channels)
    optimizer = torch.optim.Adam(net.parameters(), lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * -(-len(x_train) // batch))
    generator = torch.Generator().manual_seed(1)
    start, accuracy = time.time(), float("nan")
    for epoch in range(epochs):
        net.train()
        for idx in torch.randperm(len(x_train)).split(batch):
            loss = F.cross_entropy(net(dm.noise(x_train[idx], generator)), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = float((predict(net, test.noisy) == test.labels.numpy()).mean())
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} ({time.time() - start:.0f} s)", flush=True)
    print(
        f"DigitCNN{list(channels)} trained on noisy images ({dm.noise!r}), {epochs} epochs: accuracy {accuracy:.4f} on the fixed noisy test images"
    )
    return accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a job folder: its data and noise are used, not its model")
    parser.add_argument("epochs", nargs="?", type=int, default=10, help="training epochs (default 10)")
    parser.add_argument(
        "channels",
        nargs="?",
        default="32,64,128",
        help="DigitCNN's channels, separated by commas (default 32,64,128; classifier M's: 16,32,64)",
    )
    args = parser.parse_args(argv)
    train(args.folder, args.epochs, tuple(int(c) for c in args.channels.split(",")))


if __name__ == "__main__":
    main()
