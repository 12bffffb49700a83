#!/usr/bin/env bash
# The GPU check for a lent GPU machine (it has no package registries): run with an `attn` built
# elsewhere with `--features cuda,wgpu` and carried over. Not needed by CI.
#
#   cargo build --release -p attn-cli --features cuda,wgpu     # here, where the registries are
#   scripts/gpu_check.sh [target/release/attn]                  # there
#
# Prints `attn backends`, then for each case (bert-base batch 8 and 32, MiniLM-L6 batch 32; train
# and infer; f32 and bf16) `attn bench` on --backend cuda and wgpu, alternated with
# scripts/pytorch_baseline.py --device cuda where python3 has torch and transformers (a printed
# skip where not): one JSON line per measurement on stdout (and in $OUT), with the MFU from the
# counted FLOPs, then a table. Random weights of the named presets on synthetic batches (24 to 72
# tokens), so no model or data has to travel; the kernel caches live in $ATTN_HOME/cubecl.
#
# Environment: STEPS (timed steps, default 10), WARMUP (default 3), BACKENDS (default "cuda wgpu"),
# PEAK_TFLOPS_F32 / PEAK_TFLOPS_BF16 (the GPU's dense peaks; default: H100/H200 SXM, 67 / 989),
# OUT (default gpu_check.jsonl), QUICK=1 (MiniLM batch 8 only, 2 steps: a dry run of the script).
set -euo pipefail
cd "$(dirname "$0")/.."

ATTN="${1:-target/release/attn}"
STEPS="${STEPS:-10}"
WARMUP="${WARMUP:-3}"
BACKENDS="${BACKENDS:-cuda wgpu}"
PEAK_F32="${PEAK_TFLOPS_F32:-67}"
PEAK_BF16="${PEAK_TFLOPS_BF16:-989}"
OUT="${OUT:-gpu_check.jsonl}"
export ATTN_HOME="${ATTN_HOME:-$PWD/.gpu-check-home}"
export HF_HUB_OFFLINE=1
: > "$OUT"

# preset batch
CASES=("bert-base 8" "bert-base 32" "minilm-l6 32")
if [ "${QUICK:-0}" = 1 ]; then
  CASES=("minilm-l6 8")
  STEPS=2
  WARMUP=1
fi

echo "== attn backends"
"$ATTN" backends || true

HAVE_TORCH=0
if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
  HAVE_TORCH=1
else
  echo "SKIPPED (prerequisite missing): python3 with torch (CUDA) and transformers: no PyTorch side"
fi

# Adds the case, side and MFU to a bench line and appends it to $OUT. Training FLOPs: 6 x (the
# non-embedding parameters + the attention products' 2 x layers x length x hidden) per padded
# token (Kaplan et al.'s count); inference 2 x.
record() {
  local line=$1 side=$2 preset=$3 batch=$4 mode=$5 precision=$6
  python3 - "$line" "$side" "$preset" "$batch" "$mode" "$precision" "$PEAK_F32" "$PEAK_BF16" <<'EOF' | tee -a "$OUT"
import json, sys
line, side, preset, batch, mode, precision, peak32, peak16 = sys.argv[1:]
r = json.loads(line)
layers, hidden, ffn = {"bert-base": (12, 768, 3072), "minilm-l6": (6, 384, 1536)}[preset]
length = r["padded_tokens_per_s"] / r["samples_per_s"]
per_token = layers * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * layers * length * hidden
flops = (6 if mode == "train" else 2) * per_token * r["padded_tokens_per_s"]
peak = float(peak16 if precision == "bf16" else peak32) * 1e12
r.update(side=side, preset=preset, batch=int(batch), mode=mode, precision=precision,
         tflops=flops / 1e12, mfu=flops / peak)
print(json.dumps(r))
EOF
}

run_attn() {
  local backend=$1 preset=$2 batch=$3 mode=$4 precision=$5
  local line
  if line=$("$ATTN" --backend "$backend" bench "$mode" --config "$preset" --batch "$batch" \
      --steps "$STEPS" --warmup "$WARMUP" --precision "$precision" 2>/dev/null | tail -1) \
      && [ -n "$line" ]; then
    record "$line" "attn-$backend" "$preset" "$batch" "$mode" "$precision"
  else
    echo "{\"side\": \"attn-$backend\", \"preset\": \"$preset\", \"batch\": $batch, \"mode\": \"$mode\", \"precision\": \"$precision\", \"error\": \"attn bench failed\"}" | tee -a "$OUT"
  fi
}

run_torch() {
  local preset=$1 batch=$2 mode=$3 precision=$4
  [ "$HAVE_TORCH" = 1 ] || return 0
  local amp=()
  [ "$precision" = bf16 ] && amp=(--amp bf16)
  local line
  line=$(python3 scripts/pytorch_baseline.py "$mode" --model none --config "$preset" \
    --batch "$batch" --steps "$STEPS" --warmup "$WARMUP" --device cuda "${amp[@]}" | tail -1)
  record "$line" pytorch "$preset" "$batch" "$mode" "$precision"
}

echo "== benches (one JSON line each; also in $OUT)"
for case in "${CASES[@]}"; do
  read -r preset batch <<< "$case"
  for mode in train infer; do
    for precision in f32 bf16; do
      # Alternated: each backend, then PyTorch, on the same case.
      for backend in $BACKENDS; do
        run_attn "$backend" "$preset" "$batch" "$mode" "$precision"
        run_torch "$preset" "$batch" "$mode" "$precision"
      done
    done
  done
done

echo "== table (samples/s; ratio to PyTorch's median of the same case)"
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cases = {}
for r in rows:
    cases.setdefault((r["preset"], r["batch"], r["mode"], r["precision"]), {}).setdefault(r["side"], []).append(r)
print(f"{'case':<28} {'side':<12} {'samples/s':>10} {'TFLOP/s':>8} {'MFU':>6} {'vs PyTorch':>10}")
for key, sides in cases.items():
    torch = [r["samples_per_s"] for r in sides.get("pytorch", []) if "samples_per_s" in r]
    base = statistics.median(torch) if torch else None
    for side, rs in sides.items():
        ok = [r for r in rs if "samples_per_s" in r]
        name = " ".join(map(str, key))
        if not ok:
            print(f"{name:<28} {side:<12} {'failed':>10}")
            continue
        s = statistics.median(r["samples_per_s"] for r in ok)
        tf = statistics.median(r["tflops"] for r in ok)
        mfu = statistics.median(r["mfu"] for r in ok)
        ratio = f"{s / base:.2f}x" if base else "-"
        print(f"{name:<28} {side:<12} {s:>10.1f} {tf:>8.1f} {mfu:>6.1%} {ratio:>10}")
EOF
