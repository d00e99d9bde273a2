#!/usr/bin/env bash
# One GPU session of issue 19, run on the device machine (tools/prepare_gpu_carry.sh first, here):
#   bash tools/gpu_session.sh [TRAIN_SECONDS=390] [EVAL_SECONDS=100]
# 1. checks the M-step and E-step on the GPU with random data (tools/gpu_smoke.py, half a minute; a
#    broken bf16 path falls back to fp32) and prints their rates;
#    the queue then runs both the M-step and the E-step's network in that precision (the MMPS solve stays
#    fp32: benchmarks/estep_precision.py measured what bf16 changes in the E-step's draws);
# 2. trains the shipped priors' queue one run at a time (checkpoints/train_queue.py), each from its
#    last lap or its shipped checkpoint, until TRAIN_SECONDS after the start;
# 3. evaluates what it trained, with the clean-data reference beside it (benchmarks/fashion_eval.py:
#    FD on 10,000 samples, 256 test observations), for at most EVAL_SECONDS;
# 4. packs every run into $OUT (one tar each, < 16 MiB) beside the logs and the evaluation JSON.
# Back here: train_queue.py unpack, then ship.py --eval fashion-eval.json --only NAME, and commit.
# A rehearsal on a CPU (no GPU, 24 GiB) passes each step smaller sizes, in a runs folder of its own, e.g.
#   PATH=$PWD/.venv/bin:$PATH RUNS=runs/rehearsal OUT=runs/rehearsal-packs SMOKE_ARGUMENTS="--steps 2 --estep-batch 16" \
#     QUEUE_ARGUMENTS="--only em-mmps-mask --observations 64 --until-lap 4 $(printf -- '--train-argument=%s ' \
#       --steps-per-lap 4 --batch-size 16 --sampler-steps 4 --estep-batch 64 --eval-count 4 --eval-samples 16)" \
#     EVAL_ARGUMENTS="--count 4 --samples 2 --steps 4 --prior-samples 16 --tune-count 2" bash tools/gpu_session.sh 240 120
set -euo pipefail
TRAIN=${1:-390}
EVAL=${2:-100}
OUT=${OUT:-runs/packs}
RUNS=${RUNS:-runs/fashion}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" DIFFEM_FASHION_MNIST="$PWD/.carry/fashion-mnist" PYTHONUNBUFFERED=1 PYTHON=python3
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv || true
started=$SECONDS
PRECISION=bf16
python3 tools/gpu_smoke.py --precision bf16 ${SMOKE_ARGUMENTS:-} 2>&1 | tee "$OUT/smoke.log" || PRECISION=fp32
echo "M-step and E-step network precision: $PRECISION" | tee -a "$OUT/smoke.log"
python3 checkpoints/train_queue.py run --runs "$RUNS" --deadline $((TRAIN - (SECONDS - started))) \
    --train-argument=--precision --train-argument="$PRECISION" \
    --train-argument=--estep-precision --train-argument="$PRECISION" ${QUEUE_ARGUMENTS:-} 2>&1 | tee "$OUT/queue.log" \
    || echo "the queue failed; packing what it finished" | tee -a "$OUT/queue.log"
timeout "$EVAL" python3 benchmarks/fashion_eval.py --runs "$RUNS" --out "$OUT/fashion-eval.json" --count 256 ${EVAL_ARGUMENTS:-} \
    2>&1 | tee -a "$OUT/queue.log" || echo "the evaluation stopped; its JSON keeps what it measured" | tee -a "$OUT/queue.log"
python3 checkpoints/train_queue.py pack --runs "$RUNS" --out "$OUT"
