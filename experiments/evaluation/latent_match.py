"""Training objectives that shape the latent space for the SVM probe (README: "What does not lift the probe").

:class:`LatentMatchDenoiser`: the reconstruction loss plus ``weight`` times a term on the latent vectors of
each batch. ``pair`` says what each noisy training image's latent is paired with: ``clean``, the latent of
its clean image (encoder in eval mode, no gradient: the latent a clean input gets at inference); ``view``,
the latent of a second noise draw of it (both draws in one batch through the encoder, with gradients);
``shift``, the same with the second draw's clean image shifted by up to ``shift`` pixels each way.
``term``: ``mse``, the squared distance of each pair over the latent's mean variance; ``mse_dim``, the
squared difference in each latent dimension over that dimension's spread in the batch (as the probe's
standardisation weighs them); ``nce``, InfoNCE: each pair's cosine similarity against the batch's other
images, at ``temperature``.

:class:`LatentNoiseDenoiser`: in training, the decoder reads the latent plus Gaussian noise of ``scale``
times each dimension's spread in the batch, so that the code has to hold the digit in a form that small
moves do not change.

Train with either, from the repository root (the same PYTHONPATH for ``python -m dae.probe`` and
``python -m dae.evaluate`` on such a job, which rebuild the model from its config):

    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=latent_match.LatentMatchDenoiser \\
        +model.term=nce +model.pair=view +model.weight=1.0 +model.temperature=0.2
    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=latent_match.LatentNoiseDenoiser +model.scale=0.1

or, the same, ``python experiments/evaluation/latent_match.py match +model.pair=view ...``.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from dae.denoiser import Denoiser

TERMS, PAIRS = ("mse", "mse_dim", "nce"), ("clean", "view", "shift")


class LatentMatchDenoiser(Denoiser):
    def __init__(
        self, *args, weight: float = 0.1, term: str = "nce", pair: str = "clean", temperature: float = 0.1, shift: int = 2, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if term not in TERMS or pair not in PAIRS:
            raise ValueError(
                f"model.term={term!r}, model.pair={pair!r}: expected a term of {', '.join(TERMS)} and a pair of {', '.join(PAIRS)}."
            )
        self.weight, self.term, self.pair, self.temperature, self.shift = weight, term, pair, temperature, shift

    def latents(self, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latents of the noisy images, and those they are paired with."""
        encoder, n = self.net.encoder, len(noisy)
        if self.pair == "clean":
            z = encoder(self.to_net(noisy))
            with torch.no_grad():
                encoder.eval()
                other = encoder(self.to_net(clean))
                encoder.train()
            return z, other
        base = clean
        if self.pair == "shift":  # one random shift for the whole batch: cheap; the padding keeps the digits in frame
            dx, dy = (int(v) for v in torch.randint(-self.shift, self.shift + 1, (2,)))
            base = torch.roll(clean, shifts=(dy, dx), dims=(-2, -1))
        second = self.trainer.datamodule.noise(base, None)
        both = encoder(self.to_net(torch.cat([noisy, second])))
        return both[:n], both[n:]

    def latent_term(self, z: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        z, other = z.float(), other.float()
        if self.term == "mse":
            return (z - other.detach()).pow(2).mean() / other.detach().var(0).mean().clamp_min(1e-6)
        if self.term == "mse_dim":
            return ((z - other.detach()) / other.detach().std(0).clamp_min(1e-3)).pow(2).mean()
        logits = F.normalize(z, dim=1) @ F.normalize(other, dim=1).T / self.temperature
        return F.cross_entropy(logits, torch.arange(len(z), device=z.device))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, _ = batch
        z, other = self.latents(noisy, clean)
        reconstruction = self.loss(self.net.decoder(z), clean * 2 - 1)
        extra = self.latent_term(z, other)
        loss = reconstruction + self.weight * extra
        self.log("train/reconstruction", reconstruction, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/latent_term", extra, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss


class LatentNoiseDenoiser(Denoiser):
    def __init__(self, *args, scale: float = 0.1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if scale < 0:
            raise ValueError(f"model.scale={scale}: expected a multiple of each latent dimension's spread, >= 0.")
        self.scale = scale

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, _ = batch
        z = self.net.encode(self.to_net(noisy))
        z = z + self.scale * z.detach().std(0) * torch.randn_like(z)
        loss = self.loss(self.net.decoder(z), clean * 2 - 1)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss


VARIANTS = {"match": LatentMatchDenoiser, "noise": LatentNoiseDenoiser}


def main(argv: list[str] | None = None) -> int:
    import launch  # beside this file: python puts the script's folder on the path

    return launch.main(
        argv, "model", "latent_match", VARIANTS, "match +model.term=nce +model.pair=view +model.weight=1.0 callbacks=with_probe"
    )


if __name__ == "__main__":
    sys.exit(main())
