"""The noises before training: the same ten test digits under each noise type, at a lower level,
the benchmark level and a higher one.

    python experiments/noise_examples.py        # writes experiments/noise_examples.png (a few seconds)

The benchmark levels are the defaults in conf/noise/; the fixed test noise is the one every run is
judged on (the same seed as the data module's).
"""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import dae  # noqa: F401  (registers the config resolvers)
from dae import figures
from dae.data.datamodule import fixed_noise, to_unit

ROOT = Path(__file__).resolve().parents[1]
NOISES = {"gaussian": (0.2, 0.8), "salt_pepper": (0.1, 0.6), "speckle": (0.2, 1.0), "periodic": (0.2, 0.8)}  # lower, higher


def main() -> Path:
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose("train")
    rows, datamodule = [], None
    for name, (low, high) in NOISES.items():
        noise = instantiate(compose_noise(name))
        if datamodule is None:
            datamodule = instantiate(cfg.data, noise=noise)
            datamodule.prepare_data()
            datamodule.setup()
            first = [int((datamodule.test_y == d).nonzero()[0, 0]) for d in range(10)]
            clean_u8 = datamodule.test_x[first]
            rows.append(("clean", to_unit(clean_u8)))
        benchmark = getattr(noise, noise.level_name)
        for level in (low, benchmark, high):
            label = f"{name}\n{noise.level_name}={level:g}" + (" (benchmark)" if level == benchmark else "")
            rows.append((label, fixed_noise(noise.at_level(level), clean_u8, "test")))
    return figures.digit_grid(rows, ROOT / "experiments" / "noise_examples.png", title="the same ten test digits under each noise, at three levels", dpi=75)


def compose_noise(name: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return compose("train", overrides=[f"noise={name}"]).noise


if __name__ == "__main__":
    print(main())
