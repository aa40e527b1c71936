"""How much of the digit does a job's noise leave? A supervised reference for the SVM probe's marks:
a CNN (dae.models.DigitCNN) trained with labels directly on noisy training images (fresh noise for
every batch, the job's noise at its level), reported on the job's fixed noisy test images, the very
images the probe and classifier M are judged on. No autoencoder is involved.

    python experiments/evaluation/noisy_classifier.py <job folder> [epochs] [channels, e.g. 32,64,128]

Prints one line per epoch (test accuracy) and a last line with the final accuracy.
"""

import sys
import time

import torch
import torch.nn.functional as F

from dae.classifier import predict
from dae.data.datamodule import to_unit
from dae.jobs import build_datamodule, load_job
from dae.models import DigitCNN

job = load_job(sys.argv[1])
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
channels = tuple(int(c) for c in sys.argv[3].split(",")) if len(sys.argv) > 3 else (32, 64, 128)
torch.manual_seed(0)
dm = build_datamodule(job)
x_train = torch.cat([dm.train_x, dm.val_x])  # all 60,000 training images: nothing is tuned on validation here
y_train = torch.cat([dm.train_y, dm.val_y])
net = DigitCNN(channels=channels)
batch, lr = 128, 3e-3
optimizer = torch.optim.Adam(net.parameters(), lr)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * -(-len(x_train) // batch))
generator = torch.Generator().manual_seed(1)


def test_accuracy() -> float:
    return float((predict(net, dm.test_noisy) == dm.test_y.numpy()).mean())


start = time.time()
for epoch in range(epochs):
    for idx in torch.randperm(len(x_train)).split(batch):
        noisy = dm.noise(to_unit(x_train[idx]), generator)
        loss = F.cross_entropy(net(noisy), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    accuracy = test_accuracy()
    print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} ({time.time() - start:.0f} s)", flush=True)
print(f"DigitCNN{list(channels)} trained on noisy images ({dm.noise!r}), {epochs} epochs: accuracy {accuracy:.4f} on the fixed noisy test images")
