#!/usr/bin/env bash
# How the shipped Fashion-MNIST priors are trained (issue 4). Every run resumes from its last
# complete lap, so this script can be re-run (on a GPU machine or the CPU) to continue training.
#   RUNS=runs/fashion TIME_LIMIT=480 PRECISION=bf16 bash checkpoints/train.sh
# The five runs share one GPU (they run concurrently: the small UNet alone does not fill an H100).
# Once diffem-mask has all its laps, diffem-mask-prior trains DiffEM's unconditional prior on the
# reconstructions of its last conditional model (PRIOR_LAPS laps, from scratch as in the paper).
# diffem-mask-own (fresh corruptions from the observations' own family) is the ablation of
# diffem-mask (fresh corruptions from a wider mask family) and runs ABLATION_LAPS laps only.
set -euo pipefail
cd "$(dirname "$0")/.."  # paths (RUNS, .venv) are relative to the repository
RUNS=${RUNS:-runs/fashion}
TIME_LIMIT=${TIME_LIMIT:-480}
LAPS=${LAPS:-6}
ABLATION_LAPS=${ABLATION_LAPS:-2}
OBSERVATIONS=${OBSERVATIONS:-30000}
STEPS=${STEPS:-2000}
PRIOR_LAPS=${PRIOR_LAPS:-2}
PRECISION=${PRECISION:-fp32}
KILL_AFTER=${KILL_AFTER:-$((TIME_LIMIT + 120))}  # a lap cut off here is redone on the next resume
ONLY=${ONLY:-"em-mmps-mask diffem-mask diffem-mask-prior diffem-mask-own diffem-blur reference"}
PY=${PYTHON:-.venv/bin/python}  # the project's environment (make setup); PYTHON=... for another one
command -v "$PY" >/dev/null || { echo "$0: no $PY: run 'make setup' first, or set PYTHON" >&2; exit 1; }
mkdir -p "$RUNS"

make_set() {  # name corruption
    [ -f "$RUNS/obs-$1/observations.json" ] || $PY -m diffem make-observations --data fashion-mnist \
        --corruption "$2" --sigma-y 0.01 --seed 0 --limit "$OBSERVATIONS" --out "$RUNS/obs-$1"
}
make_set mask mask:0.75
make_set blur blur:2
[ -f "$RUNS/features/config.json" ] || $PY -m diffem train-features --out "$RUNS/features" --epochs 8

COMMON=(--steps-per-lap "$STEPS" --batch-size 256 --lr 5e-4 --lr-final 5e-5 --sampler-steps 32 --estep-batch 4096
        --preset small --precision "$PRECISION" --eval-count 256 --eval-samples 1000 --feature-net "$RUNS/features"
        --quiet --resume --time-limit "$TIME_LIMIT" --keep-weights 1)
train() {  # name, then train arguments
    local name=$1; shift
    case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    timeout -s KILL "$KILL_AFTER" $PY -m diffem train --out "$RUNS/$name" "${COMMON[@]}" "$@" > "$RUNS/$name.log" 2>&1 \
        || echo "$name stopped with status $?" >> "$RUNS/$name.log"
}
train em-mmps-mask --laps "$LAPS" --method em-mmps --observations "$RUNS/obs-mask" --hflip &
LAST_CONDITIONAL="$RUNS/diffem-mask/laps/lap-$(printf %04d "$LAPS")/conditional"
{ train diffem-mask --laps "$LAPS" --method diffem --observations "$RUNS/obs-mask" --train-corruption mask-family
  if [ -f "$LAST_CONDITIONAL/diffem.json" ]; then
      train diffem-mask-prior --laps "$PRIOR_LAPS" --method diffem-prior --conditional "$LAST_CONDITIONAL" \
          --observations "$RUNS/obs-mask" --hflip
  fi; } &
train diffem-mask-own --laps "$ABLATION_LAPS" --method diffem --observations "$RUNS/obs-mask" &
train diffem-blur --laps "$LAPS" --method diffem --observations "$RUNS/obs-blur" &
train reference --laps "$LAPS" --method reference --observations "$RUNS/obs-mask" --hflip &
wait
tail -n 3 "$RUNS"/*.log
