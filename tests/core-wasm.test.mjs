// The Rust core through the WASM build, as the shim calls it: envelopes,
// error kinds, and the same answers the native tests check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wasm = require('../pkg/chkit_backfill_core.js');
// An envelope comes back as text, or as its UTF-8 bytes (buildPlan: a plan file can be megabytes).
const call = (fn, ...args) => {
  const out = wasm[fn](...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))));
  return JSON.parse(typeof out === 'string' ? out : Buffer.from(out).toString('utf8'));
};

test('options resolve with defaults; unknown keys fail as usage errors', () => {
  const ok = call('resolveOptions', {});
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.value.defaults, {
    chunkHours: 6,
    maxParallelChunks: 1,
    maxRetriesPerChunk: 3,
    retryDelayMs: 1000,
    requireIdempotencyToken: true,
  });
  assert.deepEqual(ok.value.limits, { maxWindowHours: 720, minChunkMinutes: 15, maxChunkHours: 168 });
  const bad = call('resolveOptions', { policy: { requireExplicitWindw: false } });
  assert.equal(bad.ok, false);
  assert.equal(bad.error.kind, 'usage');
  assert.match(bad.error.message, /policy\.requireExplicitWindw/);
});

test('buildPlan through WASM: ids, chunks, SQL', () => {
  const r = call('buildPlan', {
    options: { defaults: { timeColumn: 'ts' } },
    target: 'db.t',
    from: '2025-03-01T00:00:00+01:00',
    to: '2025-03-01T12:00:00Z',
    chunkHours: '4',
    now: '2026-01-01T00:00:00.000Z',
  });
  assert.equal(r.ok, true, JSON.stringify(r));
  const p = r.value;
  const id = crypto
    .createHash('sha256')
    .update('db.t|2025-02-28T23:00:00.000Z|2025-03-01T12:00:00.000Z|4|ts')
    .digest('hex')
    .slice(0, 16);
  assert.equal(p.planId, id);
  assert.deepEqual(
    p.chunks.map((c) => [c.from, c.to]),
    [
      ['2025-02-28T23:00:00.000Z', '2025-03-01T03:00:00.000Z'],
      ['2025-03-01T03:00:00.000Z', '2025-03-01T07:00:00.000Z'],
      ['2025-03-01T07:00:00.000Z', '2025-03-01T11:00:00.000Z'],
      ['2025-03-01T11:00:00.000Z', '2025-03-01T12:00:00.000Z'],
    ],
  );
  assert.equal(new Set(p.chunks.map((c) => c.idempotencyToken)).size, 4);
  assert.match(p.chunks[3].sqlTemplate, /`ts` < toDateTime64\('2025-03-01 12:00:00.000', 3, 'UTC'\)/);
});

test('malformed input is a usage error, never a trap', () => {
  const r = call('buildPlan', '{"target": 1');
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'invalid_input');
  const t = call('parseTable', 'a.b.c', 'default', '--target');
  assert.equal(t.ok, false);
  assert.equal(t.error.code, 'invalid_target');
});
