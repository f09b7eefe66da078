// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusTests, roundTrip } from './helpers/mv_corpus.mjs';
import { chunkStatements } from '../dist/core/core.js';

const p = corpusTests(['summing_hourly', 'aggregating_state', 'subquery_from']);

test('two_views: both views replay, each with its own token; replaying every chunk again adds no row', async () => {
  const { plan, shape, snapshot } = await roundTrip(p, 'two_views');
  const [a, b] = chunkStatements(plan.chunks[0], plan.target);
  assert.notEqual(a.idempotencyToken, b.idempotencyToken);
  assert.equal(plan.chunks[0].sqlTemplate, a.sql);
  assert.equal(plan.chunks[0].idempotencyToken, a.idempotencyToken);
  // Every chunk again through the driver, as after a crash between insert and checkpoint: no doubled row.
  const again = p.cli(['run', '--plan-id', plan.planId, '--replay-done']);
  assert.equal(again.code, 0, again.stdout);
  assert.equal(again.json.chunkCounts.done, plan.chunks.length);
  assert.deepEqual(await p.rows(shape.snapshot), snapshot);
  const whats = await p.rows('SELECT what, count() AS n FROM app.activity GROUP BY what ORDER BY what');
  assert.deepEqual(whats.map((r) => r.what), ['buy', 'view']);
});
