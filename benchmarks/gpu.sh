#!/usr/bin/env bash
# Issue 23's GPU measurements in one run of about 8 minutes on one NVIDIA GPU (benchmarks/README.md, GPU):
# installs the carried wheels (.whl/, made by benchmarks/gpu_wheels.sh) when the machine lacks the packages, then
# runs the parts of benchmarks/gpu.py in turn, each in its own process under a time limit, and prints their
# markdown tables and a timing table. With $OUT set (the device tool), the log and the workflow's CSVs go there.
#
#     benchmarks/gpu.sh                                  # on the GPU machine: every part, device cuda
#     benchmarks/gpu.sh --reference .gpu-ref             # compare the workflow's numbers with a CPU run's
#     benchmarks/gpu.sh --device cpu --tiny              # the smoke test, on a CPU in a few minutes
#     benchmarks/gpu.sh --device cpu --parts workflow --keep .gpu-ref   # the CPU reference (~15 min on 2 cores)
#
# Options: --device cuda|cpu  --tiny  --parts "sae extract reader workflow"  --reference DIR  --keep DIR
#          --lr "LR LR ..."  --budget SECONDS (the whole run; the workflow part gets what the others leave)
set -u -o pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

DEVICE=cuda TINY="" PARTS="sae extract reader workflow" REFERENCE="" KEEP="" LR="" BUDGET=""
while [ $# -gt 0 ]; do
    case $1 in
        --device) DEVICE=$2; shift 2 ;;
        --tiny) TINY=--tiny; shift ;;
        --parts) PARTS=$2; shift 2 ;;
        --reference) REFERENCE=$(cd "$2" && pwd); shift 2 ;;
        --keep) mkdir -p "$2" && KEEP=$(cd "$2" && pwd); shift 2 ;;
        --lr) LR=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
# time limits in seconds: per part (the workflow: what is left of the budget), GPU / --tiny
if [ -n "$TINY" ]; then
    BUDGET=${BUDGET:-900}; declare -A CAP=([sae]=180 [extract]=120 [reader]=120)
else
    BUDGET=${BUDGET:-500}; declare -A CAP=([sae]=150 [extract]=75 [reader]=90)
fi
START=$SECONDS

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=$REPO/.venv/bin/python
else PY=python3
fi
LOG=${OUT:+$OUT/gpu.log}
LOG=${LOG:-/dev/null}
say() { echo "$@" | tee -a "$LOG"; }

# what the machine lacks, from the carried wheels (benchmarks/gpu_wheels.sh): installed once per machine
SITE=/tmp/lmscope-site
[ -d "$SITE" ] && export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
if ! "$PY" -c "import snakemake, zarr, numcodecs, polars, sparsify, transformer_lens" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        t=$SECONDS
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            .whl/*.whl 2>&1 | grep -v "Running pip as the 'root' user" | tee -a "$LOG"
        [[ ":${PYTHONPATH:-}:" = *":$SITE:"* ]] || export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
        say "installed $(ls .whl/*.whl | wc -l) carried wheels into $SITE in $((SECONDS - t)) s"
    else
        say "missing packages and no .whl/ to install them from (run benchmarks/gpu_wheels.sh where pip works)"
    fi
fi
# lmscope from this checkout, installed or not
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

common=(--device "$DEVICE")
[ -n "$TINY" ] && common+=(--tiny)
if [ -n "$LR" ]; then read -ra lrs <<<"$LR"; common+=(--lr "${lrs[@]}"); fi
"$PY" benchmarks/gpu.py versions "${common[@]}" 2>&1 | tee -a "$LOG"
declare -A WALL RC
for part in $PARTS; do
    left=$((BUDGET - (SECONDS - START)))
    if [ "$part" = workflow ]; then
        cap=$((left - 15))
        extra=(--workflow-timeout "$((cap - 20))" ${REFERENCE:+--reference "$REFERENCE"} ${KEEP:+--keep "$KEEP"})
    else
        cap=${CAP[$part]:-120}
        [ "$cap" -gt "$left" ] && cap=$left
        extra=()
    fi
    if [ "$cap" -lt 30 ]; then
        say "### $part: skipped, ${left} s of the ${BUDGET} s budget left"
        WALL[$part]=0 RC[$part]=skipped
        continue
    fi
    t=$SECONDS
    timeout --kill-after=15 "$cap" "$PY" benchmarks/gpu.py "$part" "${common[@]}" "${extra[@]}" 2>&1 | tee -a "$LOG"
    rc=$?
    WALL[$part]=$((SECONDS - t)) RC[$part]=$rc
    [ "$rc" = 124 ] && say "### $part: stopped at its limit of $cap s (the rows above are what it measured)"
done

say ""
say "| part | wall s | limit s | exit |"
say "| --- | --- | --- | --- |"
for part in $PARTS; do say "| $part | ${WALL[$part]} | ${CAP[$part]:-rest} | ${RC[$part]} |"; done
say "| all (budget $BUDGET s) | $((SECONDS - START)) | | |"
status=0
for part in $PARTS; do [ "${RC[$part]}" = 0 ] || status=1; done
exit $status
