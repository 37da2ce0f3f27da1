#!/usr/bin/env bash
# The served-policy tests against vLLM on a GPU machine (for when a GPU is lent):
#   bash scripts/vllm_check.sh [WORK_DIR]
# Builds the two tiny random-weight checkpoints (Qwen2.5-VL and Qwen3-VL, seed 0) in WORK_DIR,
# starts one `vllm serve` per checkpoint on loopback, and runs tests/test_served_policy.py
# against them: the served greedy text and boxes must equal the in-process ones, `locate`,
# `eval` and the web app's backend must work through --policy-url, and a self-evolution round's
# LoRA adapter registered at run time (evolve.eval.served_model: lora) must evaluate as in-process. On CPU machines the same
# tests run against `transformers serve` (make test).
# Needs: torch with CUDA, vLLM (`pip install vllm`; it brings its own torch build) and
# `pip install -e ".[dev]"`. Writes the servers' logs to WORK_DIR/vllm_*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/vllm_check}
PY=${PYTHON:-python}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
"$PY" -c "import vllm" 2>/dev/null || { echo "vLLM is not installed: pip install vllm" >&2; exit 2; }

# The tiny folders name georeason's image-only processor classes (a CPU workaround for the
# missing torchvision); vLLM builds the stock processors, so the copies it serves name those.
"$PY" - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
from georeason.models.tiny import make_tiny
stock = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}
for arch, cls in stock.items():
    d = Path(sys.argv[1]) / f"tiny-{arch}"
    if not (d / "config.json").is_file():
        make_tiny(d, arch=arch, seed=0)
    p = d / "processor_config.json"
    cfg = json.loads(p.read_text())
    cfg["processor_class"] = cls
    p.write_text(json.dumps(cfg, indent=2))
    print(f"{arch}: {d}")
EOF

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
PORT=18400
for ARCH in qwen2_5_vl qwen3_vl; do
  PORT=$((PORT + 1))
  DIR="$WORK/tiny-$ARCH"
  # float32 and eager mode: the closest vLLM gets to the in-process float32 forward pass.
  # The Qwen2.5-VL server also takes LoRA adapters at run time (evolve's served_model: lora).
  LORA=()
  [ "$ARCH" = qwen2_5_vl ] && LORA=(--enable-lora --max-lora-rank 8)
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True \
  vllm serve "$DIR" --served-model-name "$DIR" --host 127.0.0.1 --port "$PORT" \
    --dtype float32 --enforce-eager --max-model-len 4096 --gpu-memory-utilization 0.2 \
    --limit-mm-per-prompt '{"image": 1}' ${LORA[@]+"${LORA[@]}"} >"$WORK/vllm_$ARCH.log" 2>&1 &
  PIDS+=($!)
  export "GEOREASON_SERVED_URL_${ARCH^^}=http://127.0.0.1:$PORT/v1"
  for _ in $(seq 1 180); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "vllm serve ($ARCH) exited; see $WORK/vllm_$ARCH.log" >&2; exit 1; }
    sleep 2
  done
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "vllm serve ($ARCH) not healthy after 360 s" >&2; exit 1; }
done
GEOREASON_TINY_DIR="$WORK" "$PY" -m pytest -q tests/test_served_policy.py -p no:cacheprovider
