#!/usr/bin/env bash
# One prepared run for a session that is lent a CUDA GPU (issue 10, item 6): about 7 minutes
# (session 6 on an H200: probe 3 min 20 s, calibrate's gpu plan 43 s, validate cut at 80 s after
# 402 of 480 configurations, hence its 150 s limit now).
#   run it through the device tool from the repository root:  bash tools/gpu_session.sh h200
# $1: the catalogue GPU the machine is (predictions are made for it). Results: one archive,
# $OUT/gpu-results.tgz (the device tool's folder; ./gpu-out elsewhere), re-packed after every
# stage so a run cut short keeps what it finished; the probe's log beside it. Commit them
# under validation/results/ with this command line, and record what they show in
# docs/validation.md.
# Install: a wheel of this checkout in .whl/ (built beforehand with
#   python3 -m pip wheel --no-deps --no-build-isolation -w .whl .
# and carried: the device machine has no package index), else built there from source.
# Order: what nothing else can give first (cuDNN / SDPA choices and RNN timings on a named GPU,
# NeuSight's per-op shapes), then the CUDA calibration and the held-out validation, each under
# its own time limit. DEVICE=cpu QUICK=1 is the local dry run of this script (no measurement).
# A follow-up call with the time left: PROBE_ARGS (the probe's grids and limits), PROBE_TIMEOUT,
# CAL_TIMEOUT (the CUDA calibration's limit: its "gpu" plan took 43 s on an H200), VAL_TIMEOUT,
# e.g. (session 6's second call)
#   PROBE_ARGS="--grids headline,length,single200 --no-attention --max-s 70 --ops-max-s 0" \
#   PROBE_TIMEOUT=110 CAL_TIMEOUT=150 bash tools/gpu_session.sh h200
set -uo pipefail
GPU="${1:?usage: tools/gpu_session.sh CATALOGUE_GPU (e.g. h200)}"
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:+--quick}"
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
REPO="$(pwd)"  # the checkout (tools/)
WORK="$(mktemp -d)"  # results
SITE="$(mktemp -d)"  # the installed package
pack() { tar czf "$OUT/gpu-results.tgz.part" -C "$WORK" . && mv "$OUT/gpu-results.tgz.part" "$OUT/gpu-results.tgz"; }
if ls .whl/costmodel-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/costmodel-*.whl
else
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$SITE" .
fi >"$WORK/install.log" 2>&1 || { echo "install failed"; tail -5 "$WORK/install.log"; pack; exit 1; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
CM=(python3 -c "import sys; from costmodel.cli.main import entry; sys.argv[0] = 'costmodel'; entry()")
cd "$WORK"  # not the checkout: its costmodel/ folder would shadow the installed package
python3 -c "import costmodel.validation, torch; print(costmodel.__file__, torch.__version__)" \
  | tee versions.txt
if [ "$DEVICE" = cuda ]; then
  nvidia-smi -q >"$WORK/nvidia-smi-q.txt" 2>&1
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu \
    --format=csv -l 2 >"$WORK/nvidia-smi-log.csv" 2>&1 &
  SMI=$!
fi
# 1. cuDNN RNN grids, SDPA kernel choice, NeuSight's per-op shapes (<= 4 min 20 s)
timeout "${PROBE_TIMEOUT:-260}" python3 -m costmodel.validation.gpu_probe --device "$DEVICE" \
  --gpu "$GPU" $QUICK ${PROBE_ARGS:---max-s 130 --ops-max-s 45} -o "$WORK/gpu-probe-$GPU.json" >"$WORK/gpu-probe.log" 2>&1
echo "probe rc=$?"; pack
# 2. CUDA calibration (never run before this script) and the held-out validation (<= 3 min);
# SKIP_CAL=1: the probe alone (a replicate of its grids on another machine)
[ -n "${SKIP_CAL:-}" ] && { [ -n "${SMI:-}" ] && kill "$SMI"; pack; cp "$WORK/gpu-probe.log" "$OUT/"; exit 0; }
timeout "${CAL_TIMEOUT:-100}" "${CM[@]}" calibrate --device "$DEVICE" $QUICK -q -o "$WORK/$DEVICE-$GPU.toml" \
  >"$WORK/calibrate.log" 2>&1
echo "calibrate rc=$?"
if [ ! -f "$WORK/$DEVICE-$GPU.toml" ]; then  # the full run did not finish in time: the small one
  timeout 40 "${CM[@]}" calibrate --device "$DEVICE" --quick -q -o "$WORK/$DEVICE-$GPU.toml" \
    >>"$WORK/calibrate.log" 2>&1
  echo "calibrate --quick rc=$?"
fi
pack
if [ -f "$WORK/$DEVICE-$GPU.toml" ]; then
  timeout "${VAL_TIMEOUT:-150}" "${CM[@]}" validate --device "$DEVICE" --gpu "$WORK/$DEVICE-$GPU.toml" \
    --modes inference,training --max-config-s 0.05 --budget-s 0.05 \
    -o "$WORK/$DEVICE-$GPU-validation" >"$WORK/validate.log" 2>&1
  echo "validate rc=$?"
  # the host-issue bound (session 7): the catalogue GPU bounded by the profile's [host] table,
  # the headline and the module grid re-priced with it
  "${CM[@]}" compare --n 512 --d 768 --gpu "$GPU" --host "$WORK/$DEVICE-$GPU.toml" \
    >"$WORK/compare-host.txt" 2>&1
  [ -f "$WORK/$DEVICE-$GPU-validation.csv" ] && python3 "$REPO/tools/rescore_validation.py" \
    "$WORK/$DEVICE-$GPU-validation.csv" "$GPU" "$WORK/$DEVICE-$GPU.toml" >"$WORK/rescored-host.txt" 2>&1
  echo "host rescore rc=$?"
fi
[ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null
pack
cp "$WORK/gpu-probe.log" "$OUT/" 2>/dev/null
tail -n 30 "$WORK/gpu-probe.log"; tail -n 5 "$WORK/calibrate.log" "$WORK/validate.log" 2>/dev/null
