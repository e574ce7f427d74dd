#!/usr/bin/env bash
# Every GPU measurement of the training's speed in one short run on a lent GPU machine (about 10 minutes on an
# H100), prepared on this (CPU) machine:
#
#   bash benchmarks/gpu_check.sh prepare   # here: .gpu/ = Python 3.12 wheels of what the GPU image lacks (hydra,
#                                          #   hdf5plugin) + the convergence check's data (dancer_man), 60 MB
#   bash benchmarks/gpu_check.sh run       # there (the device tool's run with carry [".gpu"]): writes $OUT
#   bash benchmarks/gpu_check.sh evaluate DIR   # here: the held-out quality of the generators it brought back
#
# run: (1) benchmarks/train_paper.py at the paper preset, every phase at batch 1 in the fast and exact kernels with
# and without bf16, at batch $BATCH in the fast bf16 ones: ms/step, samples/s, peak memory, FLOPs and the fraction
# of the bf16 peak; (2) the convergence check: the quick preset trained on dancer_man for the same samples
# ($SAMPLES) at batch 1 and at batch $BATCH with and without the square-root learning-rate rule, its generators
# brought back for `evaluate` here (mediapipe, which re-detects the person, is not there); (3) last, the paper
# preset's phases compiled (train.compile) at batch $BATCH, which may take minutes to compile. Each part writes its
# results as it ends, so a run cut off by its time limit still brings back the parts before.
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${BATCH:-8}
SAMPLES=${SAMPLES:-2000}
PRESET=${PRESET:-paper} STEPS=${STEPS:-20} PY=${PY:-python3}
# a dry run on a CPU: PRESET=tiny STEPS=2 SAMPLES=16 COMPILE=0 PY=.venv/bin/python bash benchmarks/gpu_check.sh run
GPU=.gpu
CONV=$GPU/convergence
TARGETS=(dancer_man) # with the wheels (46 MB of them hdf5plugin) a second target would pass the 64 MiB a run carries
VARIANTS=(b1 "b$BATCH" "b${BATCH}sqrt")
variants() { # batch 1, batch $BATCH at the same learning rate (the default) and with the square-root rule
  local b="train.face.enabled=false;train.batch_size=$BATCH;train.iterations=$((SAMPLES / BATCH))"
  echo --variant "b1=train.face.enabled=false" --variant "b$BATCH=$b" --variant "b${BATCH}sqrt=$b;train.lr_scaling=sqrt"
}

case "${1:-}" in
prepare)
  mkdir -p $GPU/whl
  # what dancenow's training imports beyond the GPU image's packages (torch, h5py, opencv, tqdm, tensorboard)
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 -d $GPU/whl hydra-core==1.3.8 omegaconf==2.3.0 hdf5plugin==7.1.0
  .venv/bin/python -m pip wheel -q --no-deps -w $GPU/whl antlr4-python3-runtime==4.9.3 # an sdist on PyPI
  .venv/bin/python benchmarks/ablation.py --stage prepare --out $CONV --targets "${TARGETS[@]}" $(variants)
  rm -f $CONV/videos/*/video.mp4 # the data are frames.h5 and poses.h5; the made videos stay here
  du -sh $GPU
  ;;
run)
  OUT=${OUT:-$GPU/out}
  mkdir -p "$OUT"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $GPU/whl/*
  export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
  part() { # part NAME COMMAND...: its output to $OUT/NAME.txt; a failed part does not stop the next
    "${@:2}" 2>&1 | grep --line-buffered -v "it/s\]" | tee "$OUT/$1.txt" || echo "FAILED: $1" | tee -a "$OUT/$1.txt"
  }
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >"$OUT/gpu.txt" 2>&1 || true
  part train_paper $PY benchmarks/train_paper.py --preset "$PRESET" --steps "$STEPS" --batch 1 "$BATCH" \
    --train-iterations 10 --json "$OUT/train_paper.json"
  part convergence $PY benchmarks/ablation.py --stage train --out $CONV --targets "${TARGETS[@]}" \
    --iterations "$SAMPLES" --jobs 3 $(variants)
  for t in "${TARGETS[@]}"; do
    for v in "${VARIANTS[@]}"; do
      cp $CONV/ablation/$t/$v/generator.pt "$OUT/${t}_$v.pt" || true
      grep -E "s/it|learning rate" $CONV/ablation/$t/$v/train.log | tail -3 >>"$OUT/convergence.txt" || true
    done
  done
  if [ "${COMPILE:-1}" = 1 ]; then
    part compiled $PY benchmarks/train_paper.py --preset "$PRESET" --steps "$STEPS" --batch "$BATCH" --compile \
      --compile-only --train-iterations 0 --json "$OUT/compiled.json"
  fi
  ;;
evaluate)
  from=${2:?usage: gpu_check.sh evaluate DIR_WITH_THE_RETURNED_FILES}
  for t in "${TARGETS[@]}"; do
    for v in "${VARIANTS[@]}"; do
      mkdir -p $CONV/ablation/$t/$v
      cp "$from/${t}_$v.pt" $CONV/ablation/$t/$v/generator.pt
    done
  done
  .venv/bin/python benchmarks/ablation.py --out $CONV --targets "${TARGETS[@]}" --iterations "$SAMPLES" $(variants)
  ;;
*)
  sed -n '2,16p' "$0"
  exit 2
  ;;
esac
