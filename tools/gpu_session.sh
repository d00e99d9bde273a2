#!/usr/bin/env bash
# One GPU session of issue 19, run on the device machine (tools/prepare_gpu_carry.sh first, here):
#   bash tools/gpu_session.sh DEADLINE_SECONDS
# trains the shipped priors' queue one run at a time (checkpoints/train_queue.py, bf16 M-step), each
# from its last lap or its shipped checkpoint, until the deadline, then packs every run into $OUT
# (one tar each, < 16 MiB) with the log. Back here: train_queue.py unpack, evaluate, ship.
set -euo pipefail
DEADLINE=${1:-480}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" DIFFEM_FASHION_MNIST="$PWD/.carry/fashion-mnist" PYTHONUNBUFFERED=1 PYTHON=python3
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv || true
python3 checkpoints/train_queue.py run --runs runs/fashion --deadline "$DEADLINE" \
    --train-argument=--precision --train-argument=bf16 2>&1 | tee "${OUT:-.}/queue.log"
python3 checkpoints/train_queue.py pack --runs runs/fashion --out "${OUT:-runs/packs}"
