"""Do other classifiers read the autoencoder's outputs better? Trains four variants of a small CNN
on clean MNIST (3 epochs each, one-cycle) and reports each on clean, noisy, denoised and
reconstructed test images of one job.

    python experiments/evaluation/classifier_variants.py <job folder>
"""

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from dae.data.datamodule import to_unit
from dae.inference import denoise
from dae.jobs import build_datamodule, load_job, load_model

torch.manual_seed(0)
job = load_job(sys.argv[1])
ae = load_model(job)
dm = build_datamodule(job)
clean_test = to_unit(dm.test_x)
den = denoise(ae, dm.test_noisy)
rec = denoise(ae, clean_test)
X = torch.cat([dm.train_x, dm.val_x])
Y = torch.cat([dm.train_y, dm.val_y])


def net(bn=True, ch=(16, 32, 64)):
    layers = []
    prev = 1
    for c in ch:
        layers += [nn.Conv2d(prev, c, 3, padding=1, bias=not bn)] + ([nn.BatchNorm2d(c)] if bn else []) + [nn.ReLU(), nn.MaxPool2d(2)]
        prev = c
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.25), nn.Linear(prev * (32 // 2 ** len(ch)) ** 2, 10))


def augment(x, kind):
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


def run(name, bn, kind, epochs=3, ch=(16, 32, 64)):
    m = net(bn, ch)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    steps = epochs * ((len(X) + 127) // 128)
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    t = time.time()
    for e in range(epochs):
        perm = torch.randperm(len(X))
        m.train()
        for i in range(0, len(X), 128):
            idx = perm[i : i + 128]
            x = to_unit(X[idx])
            x = augment(x, kind)
            loss = F.cross_entropy(m(x), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sch.step()
    m.eval()
    with torch.no_grad():

        def acc(imgs):
            return float((torch.cat([m(imgs[i : i + 1000]).argmax(1) for i in range(0, len(imgs), 1000)]) == dm.test_y).float().mean())

        print(
            f"{name}: clean {acc(clean_test):.4f} noisy {acc(dm.test_noisy):.4f} denoised {acc(den):.4f} reconstructed {acc(rec):.4f}  ({time.time() - t:.0f}s)",
            flush=True,
        )


run("bn", True, "")
run("nobn", False, "")
run("bn+shift", True, "shift")
run("bn+shift+blur", True, "shift+blur")
