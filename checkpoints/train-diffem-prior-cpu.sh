#!/usr/bin/env bash
# DiffEM's unconditional prior for 75 %-masked Fashion-MNIST, on a CPU (issue 4's fallback when no GPU is lent):
# reconstructions of the first LIMIT observations by the shipped DiffEM conditional model, then LAPS laps of
# fine-tuning that start from the conditional model without its condition channels (`--prior-init conditional`).
# Resumable: re-run it to continue from the last complete lap (LAPS=5 adds laps).
#   bash checkpoints/train-diffem-prior-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/fashion-cpu}
PY=${PYTHON:-.venv/bin/python}  # the project's environment (make setup); PYTHON=... for another one
command -v "$PY" >/dev/null || { echo "$0: no $PY: run 'make setup' first, or set PYTHON" >&2; exit 1; }
[ -f "$RUNS/obs-mask/observations.json" ] || $PY -m diffem make-observations --data fashion-mnist \
    --corruption mask:0.75 --sigma-y 0.01 --seed 0 --limit 30000 --out "$RUNS/obs-mask"  # train.sh's set
$PY -m diffem train --method diffem-prior --conditional "${CONDITIONAL:-checkpoints/diffem-fashion-mask75}" \
    --prior-init conditional --observations "$RUNS/obs-mask" --observations-limit "${LIMIT:-8192}" \
    --out "$RUNS/diffem-mask-prior" --laps "${LAPS:-3}" --steps-per-lap "${STEPS:-400}" --batch-size 128 \
    --lr 3e-4 --lr-final 3e-5 --hflip --sampler-steps 32 --estep-batch 1024 --eval-count 128 --eval-samples 1000 \
    --feature-net checkpoints/fashion-features --resume --quiet
