#!/usr/bin/env bash
# The explorer's picture of one model and text, as a user sees it: serves MODEL with `attn serve`,
# opens `/?text=TEXT` in headless Chromium and saves the page as OUT.png (docs/explorer-*.png).
# Usage: scripts/explorer_screenshot.sh MODEL "TEXT" OUT.png [attn serve flags...]
set -euo pipefail
model=$1 text=$2 out=$3
shift 3
attn=${ATTN:-target/release/attn}
chrome=${CHROME:-$(command -v chromium || command -v chromium-browser)}
log=$(mktemp)
"$attn" serve --port 0 --model "$model" "$@" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 600); do
  grep -q '^Listening on ' "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^Listening on //p' "$log" | head -1)
query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$text")
# --virtual-time-budget lets the page's requests finish before the picture is taken.
"$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="${SIZE:-1200,1300}" \
  --virtual-time-budget=60000 --screenshot="$out" "$url/?text=$query" 2>/dev/null
echo "$out"
