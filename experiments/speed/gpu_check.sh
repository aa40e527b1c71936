#!/usr/bin/env bash
# The speed study's GPU checks and benchmarks (experiments/speed/README.md), one after another, on a
# machine with one CUDA GPU, MNIST in data/ (or DAE_DATA_DIR) and the project installed. From the repository root:
#   bash experiments/speed/gpu_check.sh [out folder]     # default outputs/gpu_check
# Every bench and the training write their job folders under <out>/ (paths.log_dir), each step's output
# goes to <out>/<step>.log, and <out>/summary.txt is the bench table (experiments/speed/summary.py).
set -u
OUT=${1:-outputs/gpu_check}
S=experiments/speed
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) > "$OUT/card.txt" 2>&1
python -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" >> "$OUT/card.txt"
cat "$OUT/card.txt"

step() {  # step <name> <python args...>: run it, log to <out>/<name>.log, print its outcome and last lines
  local name=$1 start=$SECONDS
  shift
  python "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: rc=$? in $((SECONDS - start)) s: python $*"
  tail -n 4 "$OUT/$name.log"
}
B="-m dae.bench trainer=gpu paths.log_dir=$OUT"
NONE=$(python $S/train_config.py --no-callbacks)  # overrides that leave only the training loop

step tests -m pytest -q tests/test_cuda_graphs.py
step bench_default $B                                                   # graphed steps, all three modes
step bench_eager $B +model.cuda_graph=false bench.modes=[bare,project]  # the same module, eager steps
step bench_plain -m dae.bench trainer.accelerator=gpu paths.log_dir="$OUT" bench.modes=[bare,project]  # the plain Denoiser
step bench_fp32 $B trainer.precision=32-true bench.modes=[bare,project]
step bench_no_callbacks $B $NONE bench.modes=[bare,project]
step bench_no_validation $B $NONE trainer.limit_val_batches=0 bench.modes=[bare,project]
step bench_eval256 $B data.eval_batch_size=256 bench.modes=[bare,project]  # validation in batches as on a CPU
step bench_contiguous $B model.channels_last=false bench.modes=[bare,project]
step bench_compile $B compile=true bench.modes=[bare,project]
step bench_batches -m dae.bench -m trainer=gpu paths.log_dir="$OUT" data.batch_size=256,512 bench.modes=[bare,project]  # Hydra wants -m first
step epoch_costs $S/epoch_costs.py trainer=gpu   # a checkpoint write, the grid, validation in batches of 256 and 1,000
step profile $S/profile_fit.py trainer=gpu       # where the host's time goes per step
step syncs $S/syncs.py trainer=gpu               # where the host waits for the GPU during an epoch
step train -m dae.train trainer=gpu paths.log_dir="$OUT"
step probe -m dae.probe paths.log_dir="$OUT" probe.n_train=10000  # the job just trained

python $S/summary.py "$OUT" | tee "$OUT/summary.txt"
