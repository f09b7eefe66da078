#!/usr/bin/env bash
# Idempotent setup + build: installs what is missing, then builds pkg/ (WASM)
# and dist/ (TypeScript). A second run on a set-up machine takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { echo "[setup] $*" >&2; }

if ! command -v cargo >/dev/null; then
  say "cargo not found: this project needs a Rust toolchain (rustup) on PATH"; exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

# The wasm-bindgen CLI must be exactly the crate's version from Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (had: ${have:-none}); takes a few minutes once"
  cargo install wasm-bindgen-cli --version "$want" >&2
fi

# npm install only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "npm install"
  npm install --no-audit --no-fund >&2
  touch node_modules/.package-lock.json
fi

say "building the WASM core"
cargo build --quiet --target wasm32-unknown-unknown --release >&2
wasm="target/wasm32-unknown-unknown/release/chkit_backfill_core.wasm"
if [ ! -f pkg/chkit_backfill_core_bg.wasm ] || [ "$wasm" -nt pkg/chkit_backfill_core_bg.wasm ]; then
  wasm-bindgen --target nodejs --out-dir pkg "$wasm"
  # --target nodejs emits CommonJS; this package is ESM.
  echo '{"type":"commonjs"}' > pkg/package.json
fi

say "compiling TypeScript"
# From scratch: a file moved or deleted in js/ must not live on in dist/.
rm -rf dist
node_modules/.bin/tsc -p tsconfig.json
chmod +x dist/cli/bin.js 2>/dev/null || true
say "ready"
