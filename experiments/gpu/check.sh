#!/usr/bin/env bash
# The GPU checks of the speed issue, and the GPU path of training, classifier report and probe,
# in one run that fits a short loan of a GPU machine. From the repository root:
#   bash experiments/gpu/check.sh [out folder]
# To try the script itself on a CPU, in a few minutes:
#   ACC=cpu STEPS=3 BENCH="bench.project_steps=3 bench.repeats=1 bench.warmup_steps=2" TRAIN=debug=fast bash experiments/gpu/check.sh
# Writes <out>/summary.txt (the bench table: experiments/gpu/summary.py) and <out>/results.tgz
# (bench.json files, the training job's reports and every log). BUDGET: seconds for the whole run.
set -u
OUT=${1:-outputs/gpu_check}
ACC=${ACC:-gpu}
BUDGET=${BUDGET:-420}
STEPS=${STEPS:-100}
BENCH=${BENCH:-}  # more bench overrides
TRAIN=${TRAIN:-}  # more training overrides
SKIP=${SKIP:-}    # names of steps to leave out, e.g. SKIP="bench_batches probe"
LOGS=outputs/gpu_logs
mkdir -p "$OUT" $LOGS data/cache/classifier
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD  # experiments/gpu/*.py import dae from the checkout
source experiments/gpu/use_carry.sh  # a machine without the package index: Hydra, MNIST and classifier M carried in
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) > $LOGS/card.txt 2>&1
python3 -c "import torch, lightning, torchmetrics, hydra; print('torch', torch.__version__, 'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__, 'hydra', hydra.__version__)" | tee -a $LOGS/card.txt
cat $LOGS/card.txt

deadline=$((SECONDS + BUDGET - 30))  # 30 s kept for the summary and the archive
step() {  # step <name> <python args...>: run it within what is left of the budget, log to $LOGS/<name>.log
  local name=$1 left=$((deadline - SECONDS)); shift
  if [[ " $SKIP " == *" $name "* ]]; then echo "== $name: skipped (SKIP)"; return; fi
  if [ "$left" -lt 20 ]; then echo "== $name: skipped, out of time"; return; fi
  local start=$SECONDS
  timeout "$left" python3 "$@" > "$LOGS/$name.log" 2>&1
  echo "== $name: rc=$? in $((SECONDS - start)) s: $*"
  grep -E "ratio_vs|^(bare|project|tutorial) |test PSNR|denoised|probe accuracy|passed|failed|Error|cuda_graph|ms per step|host time per step|samples/s|^  [a-z]" "$LOGS/$name.log" | tail -n 6
}
B="-m dae.bench trainer.accelerator=$ACC bench.steps=$STEPS $BENCH"
# In order of need: what does not fit in BUDGET is skipped.
step tests -m pytest -q -x tests/test_cuda_graph.py tests/test_replayed_steps.py tests/test_noise.py tests/test_config_resolvers.py
step bench_default $B
step epoch_costs experiments/gpu/epoch_costs.py trainer.accelerator=$ACC  # a checkpoint write, the grid, validation at 256 and 1000
step bench_eval256 $B data.eval_batch_size=256 bench.modes=[bare,project]  # validation as on a CPU (the GPU default: 1000)
step train -m dae.train trainer.accelerator=$ACC $TRAIN
step profile experiments/gpu/profile_fit.py trainer.accelerator=$ACC $TRAIN  # where the host's time goes per step
step syncs experiments/gpu/syncs.py trainer.accelerator=$ACC $TRAIN  # where the host waits for the GPU during an epoch
# The project path's costs over the bare step, taken apart: without callbacks and logger, then without validation too.
NONE=$(cd experiments/gpu && python3 -c "from train_config import NO_CALLBACKS; print(*NO_CALLBACKS)")  # one list, in train_config.py
step bench_no_callbacks $B $NONE bench.modes=[bare,project]
step bench_no_validation $B $NONE trainer.limit_val_batches=0 bench.modes=[bare,project]
step bench_no_graph $B model.cuda_graph=false bench.modes=[bare,project]
step bench_fp32 $B trainer.precision=32-true bench.modes=[bare,project]
step bench_compile $B compile=true bench.modes=[bare,project]
step bench_contiguous $B model.channels_last=false bench.modes=[bare,project]
step bench_batches -m dae.bench -m trainer.accelerator=$ACC bench.steps=$STEPS $BENCH data.batch_size=256,512 bench.modes=[bare,project]  # Hydra wants -m before the overrides
step probe -m dae.probe probe.n_train=10000

python3 experiments/gpu/summary.py outputs | tee "$OUT/summary.txt"
tar czf "$OUT/results.tgz" --exclude='*.ckpt' --exclude='torchvision' --exclude='00000' $LOGS outputs/bench outputs/multirun outputs/runs outputs/probe 2>/dev/null
ls -la "$OUT"
