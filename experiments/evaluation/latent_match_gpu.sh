#!/usr/bin/env bash
# Screen training objectives (latent_match.py) and training lengths on a GPU machine: all jobs at once (one
# GPU, one CPU thread each), each trained then probed with the full default probe (60,000 training vectors).
# From the repository root, after `bash experiments/gpu/carry.sh` (which also carries the control's cached
# results), on a machine with a GPU:
#   bash experiments/evaluation/latent_match_gpu.sh <out folder>
# Appends one line per job to <out>/summary.txt as each ends (a job over JOB_S seconds is stopped).
set -u
OUT=${1:-outputs/latent_match_gpu}
JOB_S=${JOB_S:-240}
mkdir -p "$OUT" outputs
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 PYTHONPATH=$PWD:$PWD/experiments/evaluation
source experiments/gpu/use_carry.sh
M="model._target_=latent_match.LatentMatchDenoiser +model.temperature=0.2"
JOBS=(
  "base|"
  "base_seed1|seed=1"
  "base_seed2|seed=2"
  "shift_w0.3|$M +model.pair=shift +model.weight=0.3"
  "shift_w1|$M +model.pair=shift +model.weight=1.0"
  "shift_w3|$M +model.pair=shift +model.weight=3.0"
  "view_w1|$M +model.pair=view +model.weight=1.0"
  "clean_w1|$M +model.pair=clean +model.weight=1.0"
  "s03_shift_w1|noise.sigma=0.3 $M +model.pair=shift +model.weight=1.0"
  "clean0.25_50ep|data.clean_fraction=0.25 trainer.max_epochs=50"
)
line() {  # line <name> <job folder> <overrides>: the job's figures in one line
  python3 - "$@" <<'PY'
import json, pathlib, sys
name, d, overrides = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
def read(f):
    try:
        return json.loads((d / f).read_text())
    except (OSError, ValueError):
        return None
m, c, p = read("metrics.json"), read("classifier_report.json"), read("probe/report.json")
print(f"{name:16}", m and f"psnr {m['test/psnr']:.2f} ep {m['epochs']} train_s {m['train_seconds']:.0f}",
      c and f"denoised {c['denoised']['accuracy']:.4f} reconstructed {c['reconstructed']['accuracy']:.4f}",
      p and f"probe {p['accuracy']:.4f} control {p['control_accuracy']} fit_s {p['seconds'].get('fit and score SVM')}", "|", overrides)
PY
}
for job in "${JOBS[@]}"; do
  name=${job%%|*} overrides=${job#*|}
  (timeout "$JOB_S" bash -c "python3 -m dae.train trainer.accelerator=gpu $overrides hydra.run.dir=outputs/lm/$name > outputs/lm_$name.train.log 2>&1 &&
     python3 -m dae.probe run=outputs/lm/$name > outputs/lm_$name.probe.log 2>&1"
   line "$name" "outputs/lm/$name" "$overrides" >> "$OUT/summary.txt") &
done
wait
sort "$OUT/summary.txt"
