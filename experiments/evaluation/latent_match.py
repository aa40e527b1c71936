"""Training objectives tried against the SVM probe's marks: the reconstruction loss plus a term on the
latent vectors of each batch (:class:`LatentMatchDenoiser`), and noise added to the latent before the
decoder (:class:`LatentNoiseDenoiser`, ``+model.scale=0.1``). Used as, from the repository root:

    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=latent_match.LatentMatchDenoiser +model.weight=0.1 +model.term=nce +model.pair=clean

and the same PYTHONPATH for `python -m dae.probe` and `python -m dae.evaluate` on such a run.

``pair``: what each noisy training image's latent is paired with: ``clean``, the latent of its clean image
(encoder in eval mode, no gradient: the latent a clean input gets at inference); ``view``, the latent
of a second noise draw of it (both draws in one batch through the encoder, with gradients); ``shift``,
the same with the second draw's clean image shifted by up to ``shift`` pixels each way.
``term``: ``mse``, the squared distance of each pair over the latent's mean variance; ``mse_dim``, the
squared difference in each latent dimension over that dimension's spread in the batch (as the probe's
standardisation weighs them); ``nce``, InfoNCE: each pair's cosine similarity against the batch's other
images, at ``temperature``.
"""

import torch
import torch.nn.functional as F

from dae.denoiser import Denoiser


class EagerStepDenoiser(Denoiser):
    """Base of the variants below: their training steps are their own, not the one StepGraphs capture."""

    def step_graphs_apply(self, *args, **kwargs) -> bool:
        return False


class LatentMatchDenoiser(EagerStepDenoiser):
    def __init__(self, *args, weight: float = 0.1, term: str = "nce", pair: str = "clean", temperature: float = 0.1, shift: int = 2, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if term not in ("mse", "mse_dim", "nce") or pair not in ("clean", "view", "shift"):
            raise ValueError(f"model.term={term!r}, model.pair={pair!r}: expected a term of mse, mse_dim, nce and a pair of clean, view, shift.")
        self.weight, self.term, self.pair, self.temperature, self.shift = weight, term, pair, temperature, shift

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, _ = batch
        encoder, n = self.net.encoder, len(noisy)
        if self.pair in ("view", "shift"):
            base = clean
            if self.pair == "shift":  # one random shift for the whole batch: cheap; the padding keeps the digits in frame
                dx, dy = (int(v) for v in torch.randint(-self.shift, self.shift + 1, (2,)))
                base = torch.roll(clean, shifts=(dy, dx), dims=(-2, -1))
            second = self.trainer.datamodule.noise(base, None)
            both = encoder(self._to_net(torch.cat([noisy, second])))
            z, other = both[:n], both[n:]
        else:
            z = encoder(self._to_net(noisy))
            with torch.no_grad():
                encoder.eval()
                other = encoder(self._to_net(clean))
                encoder.train()
        loss = self.loss(self.net.decoder(z), clean * 2 - 1)
        z, other = z.float(), other.float()
        if self.term == "mse":
            extra = (z - other.detach()).pow(2).mean() / other.detach().var(0).mean().clamp_min(1e-6)
        elif self.term == "mse_dim":
            extra = ((z - other.detach()) / other.detach().std(0).clamp_min(1e-3)).pow(2).mean()
        else:
            logits = F.normalize(z, dim=1) @ F.normalize(other, dim=1).T / self.temperature
            extra = F.cross_entropy(logits, torch.arange(n, device=z.device))
        self.log("train/latent_term", extra.detach(), on_step=False, on_epoch=True)
        self._log_train_loss(loss, n, batch_idx)
        return loss + self.weight * extra


class LatentNoiseDenoiser(EagerStepDenoiser):
    """:class:`~dae.denoiser.Denoiser` whose decoder, in training, reads the latent plus Gaussian noise of
    ``scale`` times each dimension's spread in the batch: the code has to carry the image in a form that
    small moves do not change, at any scale of the latent space."""

    def __init__(self, *args, scale: float = 0.1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale = scale

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, _ = batch
        z = self.net.encode(self._to_net(noisy))
        z = z + self.scale * z.detach().std(0) * torch.randn_like(z)
        loss = self.loss(self.net.decoder(z), clean * 2 - 1)
        self._log_train_loss(loss, len(noisy), batch_idx)
        return loss
