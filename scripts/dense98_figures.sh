#!/bin/sh
# Rerun every figure the docs give for dense98, after it is shipped again (its card, README,
# docs/dense.md, docs/speed.md, docs/benchmark.md, docs/analysis.md, docs/training.md), in two
# lanes of one thread each, outputs in OUT (default runs/dense98-figures): one .txt per command,
# named in the list below. Some commands also rewrite their table under benchmarks/results/, the
# eye CNN (facepoints/analysis/eyes_cnn.safetensors, refitted along dense98's points) and the
# figure that shows its openness (docs/analysis_demo.jpg). The turned copies of the 300-W
# validation faces are made first where they are missing.
#
#   sh scripts/dense98_figures.sh [OUT] [PREVIOUS]
#
# PREVIOUS: the weights file of the dense98 before, for the validation tables' "before -> after"
# columns (e.g. `git show HEAD~1:facepoints/weights/dense98.safetensors > old.safetensors`).
# About an hour on a 2-core machine.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-runs/dense98-figures}
PREV=${2:-}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
F=".venv/bin/facepoints"
P=".venv/bin/python"
W300="--dataset 300w --split test --data-root ../shared/data/300w --scheme ibug68"
WFLW="--dataset wflw68 --split heldout --data-root ../shared/data/wflw_sample"
SETS68="300-W,WFLW tune all,300-W turned,300-W profile"

test_lane() {  # test faces: report only
    $F bench dense98 dense98-fast dense68 --whole-photos $W300 --no-progress -o "$OUT/b300w" > "$OUT/b300w.txt" 2>&1
    $F bench dense98 dense98-fast dense68 --whole-photos $WFLW --no-progress -o "$OUT/bwflw" > "$OUT/bwflw.txt" 2>&1
    $F eval dense98 --dataset cuhk5 --split test --data-root ../shared/data/cuhk5 -o "$OUT/ecuhk" > "$OUT/ecuhk.txt" 2>&1
    $F eval dense98 --flip --dataset cuhk5 --split test --data-root ../shared/data/cuhk5 -o "$OUT/ecuhkflip" > "$OUT/ecuhkflip.txt" 2>&1
    $P benchmarks/api_given_boxes.py dense98 --dataset cuhk5 --split test --scheme cuhk5 --refine > "$OUT/refine.txt" 2>&1
    for prec in float32 int8; do
        $F bench dense98 --whole-photos $W300 --peers none --precision $prec --tta --no-progress -o "$OUT/t300-$prec" > "$OUT/t300-$prec.txt" 2>&1
        $F bench dense98 --whole-photos $WFLW --peers none --precision $prec --tta --no-progress -o "$OUT/twflw-$prec" > "$OUT/twflw-$prec.txt" 2>&1
    done
    $F bench dense98 --whole-photos $W300 --peers none --precision int8 --no-progress -o "$OUT/i300w" > "$OUT/i300w.txt" 2>&1
    $F bench dense98 --whole-photos $WFLW --peers none --precision int8 --no-progress -o "$OUT/iwflw" > "$OUT/iwflw.txt" 2>&1
    # the part refiners (dense98-parts) on dense98's 68 points, alone and with tta
    $F bench dense98 --whole-photos $W300 --peers none --parts --no-progress -o "$OUT/p300w" > "$OUT/p300w.txt" 2>&1
    $F bench dense98 --whole-photos $W300 --peers none --parts --tta --no-progress -o "$OUT/pt300w" > "$OUT/pt300w.txt" 2>&1
    $F bench --data-root ../shared/data/cuhk5 --no-progress --out runs/bench > "$OUT/bench.txt" 2>&1
}

# the turned copies of the 300-W validation faces the validation tables read (made once)
[ -d runs/300w-turned-val ] || $F data turn --data-root ../shared/data/300w --of validation --out runs/300w-turned-val --no-progress
[ -d runs/300w-profile-val ] || $F data turn --data-root ../shared/data/300w --of validation --yaw 45,75 --outline --out runs/300w-profile-val --no-progress

validation_lane() {  # validation faces: what choices are made on
    $P benchmarks/validation_whole.py $PREV dense98 --mirror --compare ibug68 --sets "$SETS68" > "$OUT/val68.txt" 2>&1
    $P benchmarks/validation_whole.py $PREV dense98 --mirror --compare cuhk5 --sets CUHK > "$OUT/val5.txt" 2>&1
    $P benchmarks/validation_whole.py $PREV dense98 --mirror --compare ibug68 --scheme ibug68 --sets "$SETS68" > "$OUT/val68block.txt" 2>&1
    $P benchmarks/validation_whole.py dense98 --mirror --compare ibug68 --scheme ibug68 --parts --sets "$SETS68" > "$OUT/valparts.txt" 2>&1
    $P benchmarks/validation_whole.py dense98 facepoints/weights/dense98.int8.onnx --mirror --compare ibug68 --sets "300-W,WFLW tune all,300-W turned" > "$OUT/int8val.txt" 2>&1
    $P benchmarks/validation_whole.py dense98 --mirror --tta --compare ibug68 --sets "$SETS68" > "$OUT/valtta.txt" 2>&1
    $P benchmarks/validation_whole.py dense98 --mirror --tta --compare cuhk5 --sets CUHK > "$OUT/valtta5.txt" 2>&1
    $P benchmarks/validation_whole.py dense98 --mirror --precision int8 --tta --compare ibug68 --sets "300-W,WFLW tune all" > "$OUT/vali8tta.txt" 2>&1
    $P benchmarks/markup_gap.py dense98 > "$OUT/markup.txt" 2>&1
    $P benchmarks/mirror_test.py --model dense98 > "$OUT/mirror.txt" 2>&1
    $P benchmarks/mirror_test.py --model dense98 --tta > "$OUT/tta.txt" 2>&1
    $P benchmarks/mirror_test.py --model dense98 --tta --precision int8 --out "$OUT/tta_int8.md" > "$OUT/tta_int8.txt" 2>&1
    $P benchmarks/decode_vote.py dense98 > "$OUT/vote.txt" 2>&1  # docs/training.md's dense98 rows
    $P benchmarks/speed_refine.py --models dense98 --detectors > "$OUT/refine5.txt" 2>&1
    $P benchmarks/speed_refine.py --models dense98 --detectors --dataset 300w > "$OUT/refine68.txt" 2>&1
    $P benchmarks/analysis_openness.py --fit-eyes-cnn --model dense98 > "$OUT/eyescnn.txt" 2>&1
    $P benchmarks/analysis_openness.py --model dense98 > "$OUT/openness.txt" 2>&1
    $P benchmarks/analysis_blinks.py --model dense68 --faces 20 > "$OUT/blinks.txt" 2>&1
    $P benchmarks/analysis_demo.py --out docs/analysis_demo.jpg > "$OUT/analysis_demo.txt" 2>&1  # its openness reads the eye CNN
}

test_lane &
validation_lane
wait
echo "dense98 figures in $OUT"
