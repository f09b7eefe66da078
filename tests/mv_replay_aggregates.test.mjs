// MV replay corpus, end to end on the embedded engine (one data dir for the file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusTests, roundTrip, replayPlan } from './helpers/mv_corpus.mjs';
import { chunkStatements } from '../dist/core.js';

const p = corpusTests(['summing_hourly', 'aggregating_state', 'subquery_from']);

test('two_views: both views replay, each with its own token; a repeated chunk is deduplicated', async () => {
  const { plan, shape, snapshot } = await roundTrip(p, 'two_views');
  const [a, b] = chunkStatements(plan.chunks[0], plan.target);
  assert.notEqual(a.idempotencyToken, b.idempotencyToken);
  assert.equal(plan.chunks[0].sqlTemplate, a.sql);
  assert.equal(plan.chunks[0].idempotencyToken, a.idempotencyToken);
  // The whole plan again, as after a crash between insert and checkpoint: no doubled row.
  await replayPlan(p, plan);
  assert.deepEqual(await p.rows(shape.snapshot), snapshot);
  const whats = await p.rows('SELECT what, count() AS n FROM app.activity GROUP BY what ORDER BY what');
  assert.deepEqual(whats.map((r) => r.what), ['buy', 'view']);
});
