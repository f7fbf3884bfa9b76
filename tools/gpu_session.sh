#!/usr/bin/env bash
# One prepared run for a session that is lent a CUDA GPU (issue 10, item 6): under 8 minutes.
#   run it through the device tool from the repository root:  bash tools/gpu_session.sh h200
# $1: the catalogue GPU the machine is (predictions are made for it); results go to $OUT
# (the device tool's folder; ./gpu-out elsewhere). Commit them under validation/results/ with
# this command line, and record what they show in docs/validation.md.
# Order: what nothing else can give first (cuDNN / SDPA choices and RNN timings on a named GPU),
# then the CUDA calibration and the held-out validation, each under its own time limit.
set -uo pipefail
GPU="${1:?usage: tools/gpu_session.sh CATALOGUE_GPU (e.g. h200)}"
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
PY=python3
$PY -m pip install --quiet --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
  || { echo "install failed: see install.log"; tail -5 "$OUT/install.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,power.limit --format=csv \
  >"$OUT/nvidia-smi.csv" 2>&1
# 1. cuDNN RNN grids + SDPA kernel choice, with costmodel's predictions beside them (<= 4 min)
timeout 300 $PY -m costmodel.validation.gpu_probe --device cuda --gpu "$GPU" --max-s 200 \
  -o "$OUT/gpu-probe-$GPU.json" >"$OUT/gpu-probe.log" 2>&1
echo "probe rc=$?"
# 2. CUDA calibration (never run before this script) and the held-out validation (<= 3 min)
timeout 100 costmodel calibrate --device cuda -q -o "$OUT/cuda-$GPU.toml" \
  >"$OUT/calibrate.log" 2>&1
echo "calibrate rc=$?"
if [ ! -f "$OUT/cuda-$GPU.toml" ]; then  # the full run did not finish in time: the small one
  timeout 40 costmodel calibrate --device cuda --quick -q -o "$OUT/cuda-$GPU.toml" \
    >>"$OUT/calibrate.log" 2>&1
  echo "calibrate --quick rc=$?"
fi
if [ -f "$OUT/cuda-$GPU.toml" ]; then
  timeout 80 costmodel validate --device cuda --gpu "$OUT/cuda-$GPU.toml" \
    --modes inference,training --max-config-s 0.05 --budget-s 0.05 \
    -o "$OUT/cuda-$GPU-validation" >"$OUT/validate.log" 2>&1
  echo "validate rc=$?"
fi
tail -n 25 "$OUT/gpu-probe.log"
