#!/usr/bin/env bash
# How the shipped Fashion-MNIST priors are trained (issues 4 and 19): checkpoints/train_queue.py runs
# them one at a time (five at once made each 4x slower), each from its last complete lap or, in an
# empty folder, from its shipped checkpoint, until DEADLINE seconds have passed.
#   DEADLINE=720 PRECISION=bf16 bash checkpoints/train.sh          (on a GPU machine)
#   ONLY="em-mmps-mask" RUNS=runs/fashion bash checkpoints/train.sh
# Then bring the runs back with `train_queue.py pack --out DIR` and ship them with checkpoints/ship.py.
set -euo pipefail
cd "$(dirname "$0")/.."  # paths (RUNS, .venv) are relative to the repository
PY=${PYTHON:-.venv/bin/python}  # the project's environment (make setup); PYTHON=... for another one
command -v "$PY" >/dev/null || { echo "$0: no $PY: run 'make setup' first, or set PYTHON" >&2; exit 1; }
ARGS=(run --runs "${RUNS:-runs/fashion}" --deadline "${DEADLINE:-720}")
[ -n "${ONLY:-}" ] && ARGS+=(--only $ONLY)
[ -n "${PRECISION:-}" ] && ARGS+=(--train-argument=--precision "--train-argument=$PRECISION")
PYTHON="$PY" exec "$PY" checkpoints/train_queue.py "${ARGS[@]}"
