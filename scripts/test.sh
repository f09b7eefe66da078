#!/usr/bin/env bash
# npm test: setup, native Rust tests, WASM build, then node's test runner over tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
echo "== cargo test" >&2
cargo test --quiet 2>&1
echo "== node --test" >&2
# Each test file runs in its own process: chdb binds one data directory per process.
exec node --test --test-concurrency=2 tests/
