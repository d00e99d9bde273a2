#!/usr/bin/env bash
# How the shipped Fashion-MNIST priors are trained (issue 4). Every run resumes from its last
# complete lap, so this script can be re-run (on a GPU machine or the CPU) to continue training.
#   RUNS=runs/fashion TIME_LIMIT=480 LAPS=40 bash checkpoints/train.sh
set -euo pipefail
RUNS=${RUNS:-runs/fashion}
TIME_LIMIT=${TIME_LIMIT:-480}
LAPS=${LAPS:-40}
OBSERVATIONS=${OBSERVATIONS:-30000}
STEPS=${STEPS:-1000}
ONLY=${ONLY:-"em-mmps-mask diffem-mask diffem-mask-own diffem-blur reference"}
PY=${PYTHON:-python3}
mkdir -p "$RUNS"

make_set() {  # name corruption
    [ -f "$RUNS/obs-$1/observations.json" ] || $PY -m diffem make-observations --data fashion-mnist \
        --corruption "$2" --sigma-y 0.01 --seed 0 --limit "$OBSERVATIONS" --out "$RUNS/obs-$1"
}
make_set mask mask:0.75
make_set blur blur:2
[ -f "$RUNS/features/config.json" ] || $PY -m diffem train-features --out "$RUNS/features" --epochs 8

COMMON=(--laps "$LAPS" --steps-per-lap "$STEPS" --batch-size 1024 --lr 1e-3 --sampler-steps 32 --estep-batch 2048
        --preset small --eval-count 256 --eval-samples 1000 --feature-net "$RUNS/features" --quiet --resume
        --time-limit "$TIME_LIMIT" --keep-weights 1)
train() {  # name, then train arguments
    local name=$1; shift
    case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    timeout $((TIME_LIMIT + 120)) $PY -m diffem train --out "$RUNS/$name" "${COMMON[@]}" "$@" > "$RUNS/$name.log" 2>&1 \
        || echo "$name stopped with status $?" >> "$RUNS/$name.log"
}
train em-mmps-mask --method em-mmps --observations "$RUNS/obs-mask" --hflip &
train diffem-mask --method diffem --observations "$RUNS/obs-mask" --train-corruption mask-family &
train diffem-mask-own --method diffem --observations "$RUNS/obs-mask" &
train diffem-blur --method diffem --observations "$RUNS/obs-blur" &
train reference --method reference --observations "$RUNS/obs-mask" --hflip &
wait
tail -n 3 "$RUNS"/*.log
