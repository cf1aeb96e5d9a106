#!/usr/bin/env bash
# Issue 5's GPU checks in one command, sized for one `device` run (under 10 minutes in all).
#
# Here, once (the device machine cannot download, so the data travels with the tree):
#     mkdir -p .data && cp -r /usr/share/datasets/fashion-mnist .data/    # .data/ is git-ignored
# then through the device tool:
#     run(command="bash experiments/benchmarks/gpu_checks.sh", carry=[".data"], timeout_s=600)
# On any other machine: OUT=results/gpu_checks bash experiments/benchmarks/gpu_checks.sh
#
# Uses the machine's own python3 with its jax/flax/optax (jdl from this tree via PYTHONPATH).
# In order of importance, each part under its own time limit so one slow part cannot eat the
# rest; every part writes into $OUT as it finishes, so a run cut short still returns the
# parts that were done (at most 8 files come back: env.txt, log.txt and 6 results).
#   1. time to 93% / 94% Fashion-MNIST test accuracy: CIFAR ResNet-20 at widths 32-64-128,
#      bfloat16 compute, SGD Nesterov + cosine over 24 epochs, weight decay 5e-4, flip + 2-pixel
#      shifts, batch 256 (200 s cap; the curve is written after every epoch)
#   2. populations of 1, 8, 32 small MLPs vs the same members one after another (target 20x)
#   3. the side-by-side table (MLP, CNN, small model) on the GPU (no PyTorch rows: they are CPU)
#   4. ResNet-50 images/s and MFU (float32 and bfloat16) and Loo's CPU-vs-GPU batch-size table
set -u
OUT=${OUT:-results/gpu_checks}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export JDL_DATA_DIR=${JDL_DATA_DIR:-$PWD/.data}
PY=${PYTHON:-python3}
LOG="$OUT/log.txt"
{
  date -u
  nvidia-smi -L 2>&1 || echo "no nvidia-smi"
  "$PY" -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__,
'optax', optax.__version__, jax.devices())"
  ls "$JDL_DATA_DIR/fashion-mnist" 2>&1
} > "$OUT/env.txt" 2>&1

part() {   # part NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s) $(date -u +%T)" >> "$LOG"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  echo "=== $name: exit $? after $((SECONDS - start)) s" >> "$LOG"
}

part time_to_accuracy 200 "$PY" experiments/benchmarks/time_to_accuracy.py \
  --model resnet --depth 20 --widths 32 64 128 --bf16 --optimizer sgd --lr 0.1 \
  --weight-decay 5e-4 --batch-size 256 --epochs 24 --targets 0.93 0.94 --max-seconds 185 \
  --steps-per-call 16 --out "$OUT/tta"
part population 110 "$PY" experiments/benchmarks/run.py --only population --out "$OUT/pop"
part side_by_side 130 "$PY" experiments/benchmarks/run.py --only mlp,cnn,small --skip pytorch \
  --out "$OUT/side"
rm -f "$OUT"/pop/benchmarks.md "$OUT"/side/benchmarks.md   # the .json holds it all; 8 files at most
part resnet50 120 "$PY" experiments/benchmarks/gpu.py --out "$OUT/gpu"
echo "done $(date -u +%T)" >> "$LOG"
