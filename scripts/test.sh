#!/usr/bin/env bash
# npm test: setup, native Rust tests, WASM build, then node's test runner over tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
# Debian's ClickHouse 18.16 serves the HTTP protocol tests (tests/http-server.test.mjs).
if ! [ -x /usr/sbin/clickhouse-server ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test] installing clickhouse-server (Debian) for the HTTP protocol tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server) >/dev/null 2>&1 ||
    echo "[test] could not install clickhouse-server; the HTTP protocol tests will be skipped" >&2
fi
echo "== cargo test" >&2
cargo test --quiet 2>&1
echo "== node --test" >&2
# Each test file runs in its own process: chdb binds one data directory per process.
exec node --test --test-concurrency=2 tests/
