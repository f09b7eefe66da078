// `verify` of mv_replay plans: every shape of the MV corpus replayed and verified
// (`ok`, or `not verifiable` with the reason), and damage to a replayed target named.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createProject } from './helpers/project.mjs';
import { roundTrip } from './helpers/mv_corpus.mjs';

const project = createProject({ options: {} });
after(project.cleanup);

/** What verify says of each shape, replayed in 12-hour chunks; the reason where not verifiable. */
const EXPECTED = {
  summing_hourly: 'ok',
  subquery_from: 'ok',
  array_join: 'ok',
  backticks: 'ok',
  comments_strings: 'ok',
  datetime64: 'ok',
  join_dimension: 'ok',
  materialized_default: 'ok',
  own_where_settings: 'ok',
  reordered_columns: 'ok',
  two_views: 'ok',
  time_alias: 'ok',
  where_or: 'ok',
  // A daily key fed by two 12-hour chunks: no chunk's rows can be told apart.
  aggregating_state: /keys receive rows from more than one chunk/,
};

for (const [name, want] of Object.entries(EXPECTED)) {
  test(`${name}: verify after the replay says ${want}`, async () => {
    const { plan } = await roundTrip(project, name);
    const r = project.cli(['verify', '--plan-id', plan.planId, '--chunks']);
    assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.chunks.length, plan.chunks.length);
    if (want === 'ok') {
      assert.equal(r.json.summary.ok, plan.chunks.length, `${name}: ${JSON.stringify(r.json.chunks.find((c) => c.verdict !== 'ok'))}`);
    } else {
      assert.equal(r.json.summary.notVerifiable, plan.chunks.length);
      for (const c of r.json.chunks) assert.match(c.reason, want);
    }
  });
}

test('aggregating_state in 24-hour chunks: -Merge of each state, ok; a doubled day differs', async () => {
  const { plan, shape } = await roundTrip(project, 'aggregating_state', { chunkHours: '24' });
  const r = project.cli(['verify', '--plan-id', plan.planId]);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.summary.ok, 30);
  // Chunk 5 inserted once more: the states merge to other values, on the same keys.
  await project.exec(plan.chunks[4].statements[0].sql.replace(/insert_deduplicate=1/, 'insert_deduplicate=0'));
  const bad = project.cli(['verify', '--plan-id', plan.planId]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.deepEqual(bad.json.chunks.map((c) => [c.index, c.verdict, c.unit]), [[5, 'differs', 'keys']]);
  assert.ok(shape);
});

test('mv_replay on a MergeTree and a SummingMergeTree target: deleted, doubled, changed chunks are named', async (t) => {
  // A project of its own: the corpus tests above already ran these plans.
  const project = createProject({ options: {} });
  t.after(project.cleanup);
  const { plan } = await roundTrip(project, 'array_join');
  const win = (n) => `ts >= toDateTime('2025-01-01 00:00:00', 'UTC') + ${(n - 1) * 43200} AND ts < toDateTime('2025-01-01 00:00:00', 'UTC') + ${n * 43200}`;
  await project.exec(
    `DELETE FROM app.tag_hits WHERE ${win(2)}`,
    plan.chunks[8].statements[0].sql.replace(/insert_deduplicate=1/, 'insert_deduplicate=0'),
    `ALTER TABLE app.tag_hits UPDATE user_id = user_id + 1000 WHERE ts = (SELECT min(ts) FROM app.tag_hits WHERE ${win(20)}) SETTINGS mutations_sync = 2`,
  );
  const bad = project.cli(['verify', '--plan-id', plan.planId]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.deepEqual(bad.json.chunks.map((c) => [c.index, c.verdict]), [[2, 'missing'], [9, 'extra'], [20, 'differs']]);

  const summing = await roundTrip(project, 'summing_hourly');
  const hours = (n) => `hour >= toDateTime('2025-01-01 00:00:00', 'UTC') + ${(n - 1) * 43200} AND hour < toDateTime('2025-01-01 00:00:00', 'UTC') + ${n * 43200}`;
  await project.exec(
    `DELETE FROM app.hourly WHERE ${hours(4)}`,
    summing.plan.chunks[10].statements[0].sql.replace(/insert_deduplicate=1/, 'insert_deduplicate=0'),
    `ALTER TABLE app.hourly UPDATE amount = amount + 1 WHERE hour = (SELECT min(hour) FROM app.hourly WHERE ${hours(15)}) SETTINGS mutations_sync = 2`,
  );
  const sbad = project.cli(['verify', '--plan-id', summing.plan.planId]);
  assert.equal(sbad.code, 1, sbad.stdout);
  // Summed again, the doubled chunk holds its keys with other sums: differs, not extra.
  assert.deepEqual(sbad.json.chunks.map((c) => [c.index, c.verdict]), [[4, 'missing'], [11, 'differs'], [15, 'differs']]);
});
