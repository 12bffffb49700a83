#!/usr/bin/env bash
# Issue 33's measurements (docs/results.md, "Training across processes on MPI"): one process
# against two ranks under mpirun (shared memory, then TCP), each beside MPI's own all-reduce of
# the same bytes, in alternating rounds.
#   cargo build --release -p attn-cli --features mpi --bin attn
#   cargo build --release -p attn-train --features mpi --example all_reduce
#   scripts/mpi_measure.sh DATA_DIR [rnn|bert] [ROUNDS]
# DATA_DIR holds train.csv and test.csv (AG News layout).
set -euo pipefail
data=${1:?a data directory with train.csv and test.csv}
kind=${2:-rnn}
rounds=${3:-3}
attn=target/release/attn
all_reduce=target/release/examples/all_reduce
out=$(mktemp -d)
# As root too, more ranks than cores allowed.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
case $kind in
  rnn) flags=(train rnn --data-dir "$data" --eval-limit 100 --iterations 200 --lr 2e-3 --seed 1
              --report-every 50 --checkpoint-every 0); batch=32 ;;
  bert) flags=(train bert --data-dir "$data" --eval-limit 50 --iterations 40 --report-every 20
               --checkpoint-every 0); batch=8 ;;
  *) echo "rnn or bert, not $kind" >&2; exit 2 ;;
esac
half=$((batch / 2))
for round in $(seq "$rounds"); do
  echo "== round $round"
  "$attn" "${flags[@]}" --batch-size "$batch" --output "$out/one-$round" 2>&1 | grep -E "^Loss|Trained in"
  said=$(mpirun -np 2 "$attn" "${flags[@]}" --batch-size "$half" --output "$out/shm-$round" 2>&1)
  grep -E "^Loss|Rank 0 of|exchanges|Trained in" <<<"$said"
  bytes=$(sed -n 's/.*all-reduces \([0-9.]*\) MB.*/\1/p' <<<"$said" | head -1)
  mpirun -np 2 "$all_reduce" "$bytes" 50
  mpirun --mca btl self,tcp -np 2 "$attn" "${flags[@]}" --batch-size "$half" --output "$out/tcp-$round" 2>&1 \
    | grep -E "exchanges|Trained in"
  mpirun --mca btl self,tcp -np 2 "$all_reduce" "$bytes" 50
done
rm -rf "$out"
