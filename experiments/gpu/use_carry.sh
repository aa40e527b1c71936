# Sourced by the scripts that run on a GPU machine without the package index (check.sh,
# experiments/evaluation/latent_match_gpu.sh): where .devcarry/ (built by carry.sh) is present, put its
# Hydra and OmegaConf on PYTHONPATH, unpack MNIST into data/ and copy its caches into data/cache/.
if [ -d .devcarry ]; then
  export PYTHONPATH=$PWD/.devcarry/site:${PYTHONPATH:-}
  mkdir -p data/cache
  for f in .devcarry/mnist/*.gz; do gunzip -c "$f" > "data/$(basename "$f" .gz)"; done
  cp -r .devcarry/cache/* data/cache/
fi
