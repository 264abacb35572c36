#!/usr/bin/env bash
# Download into .whl/ the wheels benchmarks/gpu.sh installs on the GPU machine (python 3.12, manylinux x86-64):
# the packages it runs that the machine's image lacks (/work/.library/device/KINDS.md lists the image), at the
# versions this repository runs with (constraints.txt, else what .venv has installed). Nothing is committed:
# .whl/ is ignored through .git/info/exclude. Wheels over 2 MB are re-zipped with LZMA (pip reads any zip method)
# so that the whole fits the device tool's 64 MiB working tree; the RECORD hashes are of the files, unchanged.
#
#     benchmarks/gpu_wheels.sh            # then: run(..., carry=[".whl"]) with benchmarks/gpu.sh
#
# Then it checks, here: every wheel installs with python 3.12 (--no-index --no-deps --target), and every
# requirement of a carried wheel is carried, in the image, or one the benchmarks never import (NOT_CARRIED).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PY312=${PY312:-$(command -v python3.12 || true)}

PACKAGES=(
    # the workflow engine and what it imports (a local run; --scheduler greedy, so no pulp)
    snakemake snakemake-interface-common snakemake-interface-executor-plugins snakemake-interface-logger-plugins
    snakemake-interface-report-plugins snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins
    configargparse docutils dpath fastjsonschema humanfriendly immutables jsonschema jsonschema-specifications
    referencing rpds-py nbformat traitlets platformdirs pydantic pydantic-core annotated-types typing-inspection
    smart-open sqlmodel sqlalchemy greenlet tenacity throttler yte argparse-dataclass
    # lmscope's storage and tables
    zarr donfig google-crc32c numcodecs polars polars-runtime-32 matplotlib-fontja
    # the peers of benchmarks/sae_train.py (wandb is stubbed there: a 20 MB wheel SAELens's TopK step never uses)
    sae-lens transformer-lens better-abc datasets dill multiprocess docstring-parser simple-parsing
    eai-sparsify natsort schedulefree
)
# requirements of the carried wheels that the image has (KINDS.md, 2026-11-17) ...
IMAGE=" accelerate einops fsspec huggingface-hub jaxtyping jinja2 matplotlib numpy packaging pandas protobuf
 psutil pyarrow pyyaml requests rich safetensors sentencepiece tabulate torch tqdm transformers typing-extensions
 wrapt xxhash filelock attrs pyyaml aiohttp httpx anyio "
# ... and those never imported by what gpu.sh runs (optional paths of snakemake, SAELens, TransformerLens)
NOT_CARRIED=" wandb pulp gitpython conda-inject connection-pool jupyter-core plotly plotly-express babe nltk
 python-dotenv beartype fancy-einsum typeguard transformers-stream-generator "

version_of() {
    local v
    v=$(grep -i -E "^$1==" constraints.txt | cut -d= -f3 || true)
    [ -n "$v" ] || v=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1")
    echo "$v"
}

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"

rm -rf .whl && mkdir .whl
specs=()
for p in "${PACKAGES[@]}"; do specs+=("$p==$(version_of "$p")"); done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${specs[@]}"

"$PY" - <<'EOF'
import os, zipfile
from pathlib import Path
for wheel in sorted(Path(".whl").glob("*.whl")):
    if wheel.stat().st_size < 2 * 2 ** 20:
        continue
    packed = wheel.with_suffix(".lzma")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info), compress_type=zipfile.ZIP_LZMA)
    before = wheel.stat().st_size
    os.replace(packed, wheel)
    print(f"re-zipped with LZMA: {wheel.name}: {before / 2**20:.1f} -> {wheel.stat().st_size / 2**20:.1f} MiB")
EOF

# every requirement (markers for python 3.12 on Linux, no extras) carried, in the image, or never imported
"$PY" - "$IMAGE" "$NOT_CARRIED" <<'EOF'
import re, sys, zipfile
from pathlib import Path
from packaging.requirements import Requirement
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
image, skipped = {norm(x) for x in sys.argv[1].split()}, {norm(x) for x in sys.argv[2].split()}
wheels = sorted(Path(".whl").glob("*.whl"))
carried = {norm(w.name.split("-")[0]) for w in wheels}
env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
missing = []
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    for line in meta.splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            if (req.marker is None or req.marker.evaluate(env)) and norm(req.name) not in carried | image | skipped:
                missing.append(f"{w.name.split('-')[0]} needs {req}")
print("\n".join(missing) or "every requirement is carried, in the image, or never imported")
sys.exit(1 if missing else 0)
EOF

if [ -n "$PY312" ]; then
    target=$(mktemp -d)
    "$PY312" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$target" .whl/*.whl
    echo "installed with $("$PY312" --version) into a scratch target: OK"
    rm -rf "$target"
else
    echo "no python3.12 here: install not checked"
fi
ls -l .whl | awk 'NR > 1 {printf "%9.2f MiB  %s\n", $5 / 2^20, $9}'
du -cb .whl/*.whl | tail -1 | awk '{printf "total: %d wheels, %.1f MiB\n", n, $1 / 2^20}' n="$(ls .whl/*.whl | wc -l)"
