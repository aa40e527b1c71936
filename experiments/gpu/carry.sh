#!/usr/bin/env bash
# For a GPU machine with no package index: build .devcarry/, which check.sh uses when it finds it.
# It holds what that machine's own PyTorch install lacks: Hydra and OmegaConf (pure Python, from this
# checkout's .venv), MNIST (gzipped, from data/), the cached classifier M (data/cache/classifier/) and the
# probe control's cached results (data/cache/probe_control/, where there are any).
# From the repository root, after one `python -m dae.train` here (which fetches MNIST and trains M):
#   bash experiments/gpu/carry.sh        # about 14 MB; then copy the checkout with .devcarry/ over
set -euo pipefail
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .devcarry && mkdir -p .devcarry/site .devcarry/mnist .devcarry/cache
for package in antlr4 hydra omegaconf; do cp -r "$site/$package" .devcarry/site/; done
cp -r "$site"/antlr4_python3_runtime-*.dist-info "$site"/hydra_core-*.dist-info "$site"/omegaconf-*.dist-info .devcarry/site/
find .devcarry/site -name __pycache__ -prune -exec rm -rf {} +
for f in data/*-ubyte; do gzip -c "$f" > ".devcarry/mnist/$(basename "$f").gz"; done
cp -r data/cache/classifier .devcarry/cache/
if [ -d data/cache/probe_control ]; then cp -r data/cache/probe_control .devcarry/cache/; fi  # the probe's control, cached per noise
du -sh .devcarry
