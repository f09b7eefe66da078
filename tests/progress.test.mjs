// Progress line formatting: fits the terminal, numbers add up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProgress } from '../dist/progress.js';

test('progress line shows counts, rate, elapsed, ETA and in-flight chunks within 80 columns', () => {
  const line = formatProgress({
    total: 120,
    done: 30,
    failed: 2,
    rowsWritten: 1_500_000,
    inFlight: ['c31', 'c32'],
    startedAtMs: 0,
    nowMs: 60_000,
  });
  assert.ok(line.length <= 80, line);
  assert.match(line, /^\[#+\.+\]  26% 30\/120 · 2 failed · 1\.5M rows · 25\.0k\/s · 1m00s · ETA 2m56s$/);
});

test('rate and ETA count only what this process did', () => {
  const line = formatProgress({
    total: 10,
    done: 8,
    failed: 0,
    rowsWritten: 800,
    inFlight: [],
    startedAtMs: 0,
    nowMs: 10_000,
    doneAtStart: 6,
    rowsAtStart: 600,
  });
  assert.match(line, / 8\/10 · 800 rows · 20\/s · 10s · ETA 10s$/);
  const fresh = formatProgress({ total: 4, done: 0, failed: 0, rowsWritten: 0, inFlight: ['a'], startedAtMs: 0, nowMs: 0 });
  assert.match(fresh, /ETA --/);
  const narrow = formatProgress({ total: 4, done: 1, failed: 0, rowsWritten: 5, inFlight: ['a'.repeat(200)], startedAtMs: 0, nowMs: 5 }, 40);
  assert.equal(narrow.length, 40);
});
