#!/usr/bin/env bash
# Soak: the SIGKILL/resume scenarios of tests/kill.test.mjs with many kills, then
# scripts/kill_stress.mjs (invariants checked after every kill) once per round.
# Usage: scripts/soak.sh [kills per scenario, default 100] [rounds, default 1]
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-100}"
rounds="${2:-1}"
bash scripts/setup.sh
for r in $(seq 1 "$rounds"); do
  echo "== soak round $r/$rounds: $kills kills per scenario" >&2
  KILL_COUNT="$kills" node --test --test-timeout=0 tests/kill.test.mjs
  node scripts/kill_stress.mjs
done
