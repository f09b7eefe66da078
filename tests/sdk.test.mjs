// The SDK alone (@chkit/plugin-backfill/sdk, through the package's own exports):
// plan → run → status → list → verify → doctor in this process, typed errors with
// the CLI's codes, progress callbacks, and an AbortSignal that pauses a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProject, seedEvents, slowCopyPlan } from './helpers/project.mjs';

const sdk = await import('@chkit/plugin-backfill/sdk');
const window = (p) => p.rows(`SELECT count() AS c FROM app.events WHERE event_time >= '2025-01-01 00:00:00' AND event_time < '2025-01-02 00:00:00'`);

test('plan, run, status, list, verify and doctor through the SDK alone', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 48 });
  const [{ c: before }] = await window(p);

  const config = await sdk.loadBackfillConfig(`${p.dir}/clickhouse.config.ts`);
  assert.equal(config.options.defaults.chunkHours, 6);

  const planned = await sdk.planBackfill(config, { target: 'app.events', from: '2025-01-01', to: '2025-01-02' });
  assert.equal(planned.ok, true);
  assert.equal(planned.command, 'plan');
  assert.equal(planned.chunkCount, 4);
  assert.equal(planned.strategy, 'table');

  const seen = [];
  const ran = await sdk.runBackfill(config, { planId: planned.planId }, { onProgress: (pr) => seen.push(pr) });
  assert.equal(ran.ok, true);
  assert.equal(ran.status, 'completed');
  assert.deepEqual(ran.chunkCounts, { total: 4, pending: 0, running: 0, checking: 0, done: 4, failed: 0, skipped: 0 });
  assert.equal(ran.rowsWritten, Number(before));
  for (const pr of seen) assert.equal(pr.total, 4);

  const [{ c: after }] = await window(p);
  assert.equal(Number(after), 2 * Number(before), 'the table strategy re-inserts each window once');

  const status = await sdk.backfillStatus(config, { planId: planned.planId, chunks: true });
  assert.equal(status.status, 'completed');
  assert.equal(status.chunks.length, 4);
  assert.ok(status.chunks.every((c) => c.status === 'done'));

  const list = await sdk.listBackfills(config);
  assert.deepEqual(list.plans.map((x) => [x.planId, x.status]), [[planned.planId, 'completed']]);

  const verified = await sdk.verifyBackfill(config, { planId: planned.planId });
  assert.equal(verified.ok, true, JSON.stringify(verified.chunks));
  assert.equal(verified.summary.ok, 4);

  const doctor = await sdk.diagnoseBackfill(config, { planId: planned.planId });
  assert.equal(doctor.command, 'doctor');
  assert.equal(doctor.status, 'completed');

  // The CLI reads the same state and prints the same status.
  const viaCli = p.cli(['status', '--plan-id', planned.planId]);
  assert.equal(viaCli.json.status, 'completed');
  assert.equal(viaCli.json.rowsWritten, status.rowsWritten);
});

test('SDK errors are BackfillErrors with the CLI codes and exit codes; nothing written', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  const config = await sdk.loadBackfillConfig(`${p.dir}/clickhouse.config.ts`);
  const refused = async (promise, code, exitCode) => {
    const err = await promise.then(
      () => assert.fail(`expected ${code}`),
      (e) => e,
    );
    assert.ok(err instanceof sdk.BackfillError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.exitCode, exitCode);
  };
  await refused(sdk.backfillStatus(config, { planId: 'nothex' }), 'invalid_plan_id', 2);
  await refused(sdk.backfillStatus(config, { planId: 'ffffffffffffffff' }), 'plan_not_found', 2);
  await refused(sdk.planBackfill(config, { target: 'app.events', from: '2025-01-02', to: '2025-01-01' }), 'invalid_window', 2);
  await refused(sdk.runBackfill({ ...config, options: { defaults: { chunkHours: -1 } } }, { planId: 'ffffffffffffffff' }), 'invalid_option', 2);
  assert.deepEqual((await sdk.listBackfills(config)).plans, []);
});

test('an aborted signal pauses the run after the chunks in flight; resume completes it exactly', async (t) => {
  const { p, planId } = await slowCopyPlan(t, { hours: 3, sleepPerRow: 0.01 });
  const config = await sdk.loadBackfillConfig(`${p.dir}/clickhouse.config.ts`);
  const abort = new AbortController();
  const paused = await sdk.runBackfill(config, { planId }, {
    signal: abort.signal,
    onProgress: (pr) => {
      if (pr.done >= 1) abort.abort();
    },
  });
  assert.equal(paused.status, 'paused');
  assert.equal(paused.ok, false);
  assert.ok(paused.chunkCounts.done >= 1 && paused.chunkCounts.done < paused.chunkCounts.total, JSON.stringify(paused.chunkCounts));
  const resumed = await sdk.runBackfill(config, { planId, mode: 'resume' });
  assert.equal(resumed.status, 'completed');
  const [a] = await p.rows('SELECT count() AS c, sum(cityHash64(event_time, user_id, kind, value)) AS h FROM app.events');
  const [b] = await p.rows('SELECT count() AS c, sum(cityHash64(event_time, user_id, kind, value)) AS h FROM app.src_rows');
  assert.deepEqual(a, b, 'every row once');
});

test('a plan sized by rows reports progress weighed by its chunks\' expected rows, counting what was done before a resume', async (t) => {
  // About 0.6 s a chunk: the first progress report comes while the second chunk runs.
  const { p } = await slowCopyPlan(t, { hours: 3, sleepPerRow: 0.03 });
  const config = await sdk.loadBackfillConfig(`${p.dir}/clickhouse.config.ts`);
  const planned = await sdk.planBackfill(config, { target: 'app.events', source: 'app.src', from: '2025-01-01', to: '2025-01-01T03:00:00Z', chunkRows: 20 });
  const expected = planned.expectedRows;
  assert.ok(Array.isArray(expected) && expected.length === planned.chunkCount && planned.chunkCount >= 4, JSON.stringify(planned));
  const total = expected.reduce((a, b) => a + b, 0);
  assert.equal(total, 120);

  const abort = new AbortController();
  const first = [];
  const paused = await sdk.runBackfill(config, { planId: planned.planId }, {
    signal: abort.signal,
    onProgress: (pr) => {
      first.push(pr);
      if (pr.done >= 1) abort.abort();
    },
  });
  assert.equal(paused.status, 'paused');
  assert.ok(first.every((pr) => pr.expected.total === total && pr.expected.doneAtStart === 0), JSON.stringify(first.map((pr) => pr.expected)));
  const st = await sdk.backfillStatus(config, { planId: planned.planId, chunks: true });
  const doneBefore = st.chunks.reduce((n, c, i) => n + (c.status === 'done' ? expected[i] : 0), 0);
  assert.ok(doneBefore > 0 && doneBefore < total, `${doneBefore}`);

  const seen = [];
  const resumed = await sdk.runBackfill(config, { planId: planned.planId, mode: 'resume' }, { onProgress: (pr) => seen.push(pr) });
  assert.equal(resumed.status, 'completed');
  assert.ok(seen.length > 0);
  for (const [k, pr] of seen.entries()) {
    assert.deepEqual([pr.expected.total, pr.expected.doneAtStart, pr.expected.failed], [total, doneBefore, 0]);
    assert.ok(pr.expected.done >= doneBefore && pr.expected.done <= total);
    if (k > 0) assert.ok(pr.expected.done >= seen[k - 1].expected.done, 'never goes back');
    // The weight done is the expected rows of the chunks done at that moment: at least theirs by count.
    assert.ok(pr.done >= pr.doneAtStart);
  }
  const [a] = await p.rows('SELECT count() AS c FROM app.events');
  assert.equal(Number(a.c), 120, 'every row once');
});
