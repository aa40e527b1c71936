"""Try a trained denoiser in a web page: ``python -m dae.app run=<job or pretrained folder> [port=7860]``.

Serves the page of :mod:`dae.page` on localhost (http://127.0.0.1:7860/ by default) until Ctrl-C: a
test digit, a drawing or an uploaded image, a noise and its level, and the clean, noisy and denoised
images side by side with classifier M's predictions. Two models on the same noisy digit:
``run=[<first>,<second>]``, or ``run=<first> run=<second>``. Needs the ``app`` extra
(``pip install -e ".[app]"``).
"""

from __future__ import annotations

import logging
import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig

from dae.cli import one_line_errors, prepare_argv
from dae.jobs import latest_job
from dae.page import build_page, gradio, launch, load_parts


def app_argv(argv: list[str]) -> list[str]:
    """The command line for Hydra (:func:`~dae.cli.prepare_argv`), with every ``run=`` merged into one:
    ``run=<a> run=<b>`` and ``run=[<a>,<b>]`` both become ``run=[<a>,<b>]``, each path quoted where it
    holds ``=``. A path that holds ``,`` is passed on its own (``run=<path>``), not in a list."""
    singles = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key == "run" and sep and re.fullmatch(r"\[.*\]", value):
            singles += [f"run={item.strip()}" for item in value[1:-1].split(",") if item.strip()]
        else:
            singles.append(arg)
    prepared = prepare_argv(singles)
    runs = [arg.partition("=")[2] for arg in prepared if arg.startswith("run=")]
    if len(runs) < 2:
        return prepared
    first = next(i for i, arg in enumerate(prepared) if arg.startswith("run="))
    rest = [arg for arg in prepared if not arg.startswith("run=")]
    return [*rest[:first], f"run=[{','.join(runs)}]", *rest[first:]]


def runs_of(cfg: DictConfig) -> list[str]:
    """The models to load: ``run`` as a list, or the latest job under ``paths.log_dir``."""
    if cfg.run is None:
        return [str(latest_job(cfg.paths.log_dir))]
    return [str(r) for r in cfg.run] if isinstance(cfg.run, ListConfig) else [str(cfg.run)]


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="app")
def main(cfg: DictConfig) -> None:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        gradio()  # a missing extra is said before any model is loaded
        parts = load_parts(runs_of(cfg), cfg.paths, list(cfg.train_overrides))
        page = build_page(parts, cfg.seed)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's requests to its own server as it starts: noise to a user
        launch(page, cfg.host, cfg.port)
    print(f"the page is at http://{cfg.host}:{cfg.port}/ (Ctrl-C stops it)", flush=True)
    page.block_thread()


if __name__ == "__main__":
    sys.argv = app_argv(sys.argv)
    main()
