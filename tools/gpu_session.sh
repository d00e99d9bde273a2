#!/usr/bin/env bash
# One GPU session of issue 19, run on the device machine (tools/prepare_gpu_carry.sh first, here):
#   bash tools/gpu_session.sh DEADLINE_SECONDS
# checks the M-step and E-step on the GPU with random data (tools/gpu_smoke.py, half a minute; a
# broken bf16 path falls back to fp32), then trains the shipped priors' queue one run at a time
# (checkpoints/train_queue.py), each from its last lap or its shipped checkpoint, until the
# deadline, then packs every run into $OUT (one tar each, < 16 MiB) with the logs.
# Back here: train_queue.py unpack, evaluate, ship.
set -euo pipefail
DEADLINE=${1:-480}
OUT=${OUT:-runs/packs}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" DIFFEM_FASHION_MNIST="$PWD/.carry/fashion-mnist" PYTHONUNBUFFERED=1 PYTHON=python3
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv || true
started=$SECONDS
PRECISION=bf16
python3 tools/gpu_smoke.py --precision bf16 2>&1 | tee "$OUT/smoke.log" || PRECISION=fp32
echo "M-step precision: $PRECISION" | tee -a "$OUT/smoke.log"
python3 checkpoints/train_queue.py run --runs runs/fashion --deadline $((DEADLINE - (SECONDS - started))) \
    --train-argument=--precision --train-argument="$PRECISION" 2>&1 | tee "$OUT/queue.log" \
    || echo "the queue failed; packing what it finished" | tee -a "$OUT/queue.log"
python3 checkpoints/train_queue.py pack --runs runs/fashion --out "$OUT"
