#!/usr/bin/env bash
# docs/results.md, "Threaded products: the gemm crate's threads or bands": `attn bench` with the
# gemm crate's own threads (ATTN_GEMM_SPLIT=crate) against single-threaded bands of ours (bands),
# in alternating rounds (which goes first alternating too), each with the machine's steal time over it (clock ticks, /proc/stat).
#   cargo build --release -p attn-cli --bin attn
#   scripts/gemm_split_ab.sh DATA_DIR [train|infer] [ROUNDS] [attn bench flags...]
# DATA_DIR holds train.csv and test.csv (AG News layout). Prints one line a run, then the median
# of the rounds' ratios bands/crate of samples/s.
set -euo pipefail
data=${1:?a data directory with train.csv and test.csv}
mode=${2:-train}
rounds=${3:-8}
shift $(($# < 3 ? $# : 3))
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--steps 20 --warmup 2)
steal() { awk '/^cpu /{print $9}' /proc/stat; }
rate() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["samples_per_s"])'; }
ratios=()
for r in $(seq "$rounds"); do
  declare -A got
  order=(crate bands)
  [ $((r % 2)) -eq 1 ] || order=(bands crate)
  for split in "${order[@]}"; do
    s0=$(steal)
    got[$split]=$(ATTN_GEMM_SPLIT=$split target/release/attn bench "$mode" --data-dir "$data" \
      "${flags[@]}" 2>/dev/null | rate)
    echo "round $r $split: ${got[$split]} samples/s, steal $(($(steal) - s0)) ticks"
  done
  ratios+=("$(python3 -c "print(${got[bands]} / ${got[crate]})")")
done
python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[1:]]; \
print('bands/crate by round:', ' '.join(f'{x:.3f}' for x in r)); \
print(f'median {statistics.median(r):.3f}, bands ahead in {sum(x > 1 for x in r)} of {len(r)}')" \
  "${ratios[@]}"
