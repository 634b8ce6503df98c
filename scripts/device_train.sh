#!/bin/sh
# Train dense98 further on a lent GPU machine (the `device` tool), from the data packed by
# `python scripts/device_pack.py` (the folder .pack/, which the call carries):
#
#   run(command="sh scripts/device_train.sh", carry=[".pack"], timeout_s=600)
#
# On that machine: makes the turned, nodding and profile copies of the packed 300-W training
# faces that recipes/dense98.json's mix reads, trains that recipe with the packed folders in
# place of ../shared/data for one epoch to time it, then for as many epochs as fit in BUDGET
# minutes from the start, and leaves the run's best weights, config, log and per-set validation
# in $OUT. Back here: benchmarks/validation_whole.py on the weights (validation faces never
# travel), then scripts/ship_model.py on a run folder holding what came back.
#
# Environment: BUDGET (whole minutes, default 7), DEVICE (cuda), WORKERS (12), BATCH (64),
# LR (2e-4), TURN_FACES (faces per copy set; default all), GEN (folder of the copies and runs,
# default runs/device), EXTRA (more `facepoints train` flags, e.g. '--input-size 160'),
# PY (python3), OUT (GEN/out where $OUT is unset).
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
PY=${PY:-python3}
BUDGET=${BUDGET:-7}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-12}
BATCH=${BATCH:-64}
LR=${LR:-2e-4}
EXTRA=${EXTRA:-}
GEN=${GEN:-runs/device}
OUT=${OUT:-$GEN/out}
MAXF=""
[ -n "${TURN_FACES:-}" ] && MAXF="--max-faces $TURN_FACES"
[ -d .pack/300w ] || { echo "no .pack/: run scripts/device_pack.py here and carry .pack" >&2; exit 2; }
mkdir -p "$OUT" "$GEN"
start=$(date +%s)

F="$PY -m facepoints"
$F data turn --data-root .pack/300w --out "$GEN/300w-turned" --no-progress $MAXF &
$F data turn --data-root .pack/300w --out "$GEN/300w-pitched" --yaw 0,40 --pitch 10,25 \
    --no-progress $MAXF &
$F data turn --data-root .pack/300w --out "$GEN/300w-profile" --yaw 45,75 --outline \
    --no-progress $MAXF &
wait
echo "copies made in $(( $(date +%s) - start )) s"

# recipes/dense98.json with the packed folders and these copies
GEN="$GEN" $PY -c '
import json, os
gen = os.environ["GEN"]
c = json.load(open("recipes/dense98.json"))
for part in c["mix"].values():
    root = part["data_root"].replace("../shared/data/", ".pack/")
    part["data_root"] = root.replace("runs/300w-", gen + "/300w-")
json.dump(c, open(gen + "/dense98-device.json", "w"), indent=2)
'
ARGS="--config $GEN/dense98-device.json --device $DEVICE --workers $WORKERS --batch-size $BATCH"
ARGS="$ARGS --lr $LR --threads 4 --checkpoint-minutes 2 $EXTRA"

rm -rf "$GEN/probe" "$GEN/run"
$F train $ARGS --epochs 1 --out "$GEN/probe"
epoch_s=$($PY -c "import csv; print(list(csv.DictReader(open('$GEN/probe/log.csv')))[-1]['elapsed_s'])")
left=$(( BUDGET * 60 - ($(date +%s) - start) ))
epochs=$($PY -c "print(max(1, int(($left - 20) / ($epoch_s * 1.1))))")
echo "one epoch ${epoch_s} s; ${left} s left: ${epochs} epochs"
$F train $ARGS --epochs "$epochs" --limit-time-minutes "$(( left / 60 + 1 ))" --out "$GEN/run"
for f in best.safetensors config.json log.csv val_parts.csv; do
    cp "$GEN/run/$f" "$OUT/$f"
done
echo "done in $(( $(date +%s) - start )) s: $OUT"
