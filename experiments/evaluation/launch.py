"""Train with one of this folder's classes: ``python -m dae.train <key>._target_=<module>.<Class> <overrides>``,
with this folder on PYTHONPATH so that Hydra imports the class by its module name. The class modules
(augment.py, candidate_losses.py, latent_match.py) call :func:`main` from their own ``main``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None, key: str, module: str, variants: dict[str, type], example: str) -> int:
    """Parse ``<variant> <overrides...>`` and run ``dae.train`` with ``<key>._target_`` set to the variant's class."""
    parser = argparse.ArgumentParser(
        prog=f"{module}.py",
        description=f"Train the default job with one of these classes: python -m dae.train {key}._target_={module}.<class> <overrides>.",
        epilog=f"e.g. {module}.py {example}",
    )
    parser.add_argument("variant", choices=variants, help="; ".join(f"{name}: {cls.__name__}" for name, cls in variants.items()))
    parser.add_argument(
        "overrides", nargs=argparse.REMAINDER, help="dae.train overrides, e.g. callbacks=with_probe hydra.run.dir=outputs/evaluation/<name>"
    )
    args = parser.parse_args(argv)
    pythonpath = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "dae.train", f"{key}._target_={module}.{variants[args.variant].__name__}", *args.overrides]
    return subprocess.call(command, env={**os.environ, "PYTHONPATH": pythonpath})


if __name__ == "__main__":
    sys.exit("launch.py is called by augment.py, candidate_losses.py and latent_match.py; run one of those.")
