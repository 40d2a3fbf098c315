#!/usr/bin/env bash
# The GPU proof in one short run (issue: "The CUDA engine, proven and tuned on a real GPU").
#
#   bash benchmarks/gpu_check.sh OUT_DIR            # on the GPU machine
#   DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh /tmp/gpu-dry   # the same steps on a CPU, small sizes
#
# The lent GPU machines reach no package index but ship CUDA torch, typer, rich, pillow, numpy,
# huggingface_hub and safetensors: the venv sees those (--system-site-packages) and installs eern alone,
# without dependencies. Every step writes its report into OUT_DIR and the script goes on after a failing step,
# so one run gives everything it can; its exit code is the number of failed steps.
set -uo pipefail
out="${1:?usage: gpu_check.sh OUT_DIR}"
device="${DEVICE:-cuda}"
quick="${QUICK:-}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
failed=0
step() { local name="$1"; shift; echo "== $name"; local t0=$SECONDS; "$@"; local rc=$?
         echo "== $name: exit $rc in $((SECONDS - t0)) s"; [ "$rc" -eq 0 ] || failed=$((failed + 1)); }

venv="$(mktemp -d)/venv"
python3 -m venv --system-site-packages "$venv" && . "$venv/bin/activate"
step install python -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
python -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" | tee "$out/torch.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia-smi.csv" 2>/dev/null

# The suite on the device (CPU-only tests stay on the CPU; the device tests take it from EERN_TEST_DEVICE).
step tests env EERN_TEST_DEVICE="$device" python -m pytest -q -x -p no:cacheprovider --junitxml="$out/tests.xml"
step info sh -c "eern info --json > '$out/info.json'"

if [ -n "$quick" ]; then sizes="64,96x80"; big=""; precisions="fp32,bf16"; else
  sizes="256,510x339,1920x1080"; big="4096x4096"; precisions="fp32,fp16,bf16"; fi
step benchmark sh -c "eern benchmark -d '$device' -p '$precisions' -t 0,auto --size '$sizes' --json > '$out/benchmark.json'"
[ -n "$big" ] && step benchmark-4k sh -c \
  "eern benchmark -d '$device' -p fp16 -t auto --size '$big' --repeat 5 --warmup 2 --json > '$out/benchmark-4k.json'"
step measurements python benchmarks/gpu_check.py "$out" --device "$device" ${quick:+--quick}

# A batch of small PNGs end to end (decode, model, encode, atomic writes): images/s vs model-only.
batch="$(mktemp -d)"
python - "$batch" "${quick:+10}" <<'EOF'
import sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for i in range(int(sys.argv[2] or 100)):
    Image.fromarray(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(f"{sys.argv[1]}/img{i:03d}.png")
EOF
step batch sh -c "/usr/bin/time -v eern upscale '$batch' -o '$batch/out' -d '$device' --json > '$out/batch.json' 2> '$out/batch-time.txt'"
echo "failed steps: $failed"
exit "$failed"
