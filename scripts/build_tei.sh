#!/usr/bin/env bash
# Builds Hugging Face's text-embeddings-inference (TEI) router with its candle CPU backend, the
# second anchor of `cargo xtask load-test --tei BIN`, from crates.io and two git checkouts only:
# TEI pins candle, cudarc and insta to git revisions through [patch.crates-io]; here candle comes
# from a checkout of that revision (path dependencies), cudarc and insta from crates.io (cudarc only
# matters for CUDA builds, insta for TEI's tests), and MKL and ONNX Runtime (both downloaded at
# build time) are left out, so candle multiplies through the gemm crate, as `attn` does.
#
#   scripts/build_tei.sh [WORK_DIR]      (default target/tei; prints the router's path)
#
# TEI_GIT / CANDLE_GIT: where to clone them from (default GitHub; a local mirror works);
# TEI_REV: the TEI commit (default the one measured in docs/results.md).
set -euo pipefail

work=${1:-target/tei}
tei_git=${TEI_GIT:-https://github.com/huggingface/text-embeddings-inference}
candle_git=${CANDLE_GIT:-https://github.com/huggingface/candle}
tei_rev=${TEI_REV:-0d124dc9773be6ac5a9a57d8439aba9bbbf33273}

mkdir -p "$work"
cd "$work"
[ -d tei ] || git clone -q "$tei_git" tei
git -C tei checkout -q "$tei_rev"
candle_rev=$(grep -o 'huggingface/candle", rev = "[0-9a-f]*' tei/Cargo.toml | head -1 | grep -o '[0-9a-f]*$')
[ -n "$candle_rev" ] || { echo "no candle revision in tei/Cargo.toml" >&2; exit 1; }
[ -d candle ] || git clone -q "$candle_git" candle
git -C candle checkout -q "$candle_rev"

cd tei
git checkout -q -- .
python3 - <<'EOF'
import re
s = open("Cargo.toml").read()
for dep, package in [("candle", "candle-core"), ("candle-nn", "candle-nn"),
                     ("candle-transformers", "candle-transformers"),
                     ("candle-flash-attn", "candle-flash-attn")]:
    old = re.search(r'\n%s = \{ version = "[^"]+"[^}]*\}' % re.escape(dep), s)
    assert old, dep
    rename = ', package = "candle-core"' if dep == "candle" else ""
    s = s.replace(old.group(0), '\n%s = { path = "../candle/%s"%s }' % (dep, package, rename))
start, end = s.index("[patch.crates-io]"), s.index("[profile.release]")
s = s[:start] + s[end:]
open("Cargo.toml", "w").write(s)
for path in ["router/Cargo.toml", "backends/candle/Cargo.toml"]:
    t = open(path).read()
    t = re.sub(r'insta = \{ git = "[^"]+", rev = "[0-9a-f]+",', 'insta = { version = "1.34",', t)
    t = t.replace('"cudarc?/static-linking", ', "").replace('"cudarc?/dynamic-linking", ', "")
    open(path, "w").write(t)
EOF
# TEI pins an older toolchain; the installed stable one builds it.
rm -f rust-toolchain.toml
cargo build --release -p text-embeddings-router --no-default-features --features candle,http >&2
echo "$PWD/target/release/text-embeddings-router"
