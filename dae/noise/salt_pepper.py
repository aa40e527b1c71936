import torch

from dae.noise.base import Noise, check_range, uniform


class SaltPepper(Noise):
    """Impulse noise: each pixel, with probability ``amount``, is set to 1 (salt, share
    ``salt_vs_pepper``) or 0 (pepper)."""

    name = "salt_pepper"
    level_name = "amount"

    def __init__(self, amount: float = 0.3, salt_vs_pepper: float = 0.5) -> None:
        self.amount = check_range("amount", amount, 0.0, 1.0)
        self.salt_vs_pepper = check_range("salt_vs_pepper", salt_vs_pepper, 0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        hit = uniform(x.shape, x, generator) < self.amount
        salt = (uniform(x.shape, x, generator) < self.salt_vs_pepper).to(x.dtype)
        return torch.where(hit, salt, x)

    def params(self) -> dict[str, float]:
        return {"amount": self.amount, "salt_vs_pepper": self.salt_vs_pepper}
