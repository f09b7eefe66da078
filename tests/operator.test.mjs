// What an operator sees: list, plan --dry-run, human output within 80 columns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProject, seedEvents } from './helpers/project.mjs';

const within80 = (text) => text.split('\n').every((l) => [...l].length <= 80);

test('plan --dry-run shows chunks and first/last SQL and writes nothing', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T20:00:00Z'];
  const dry = p.cli([...args, '--dry-run']);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.equal(dry.json.dryRun, true);
  assert.equal(dry.json.chunks.length, 20);
  assert.deepEqual(dry.json.chunks[19], { id: dry.json.chunks[19].id, from: '2025-01-01T19:00:00.000Z', to: '2025-01-01T20:00:00.000Z' });
  assert.match(dry.json.firstChunkSql[0], /`event_time` >= toDateTime\('2025-01-01 00:00:00', 'UTC'\)/);
  assert.match(dry.json.lastChunkSql[0], /`event_time` < toDateTime\('2025-01-01 20:00:00', 'UTC'\)/);
  assert.deepEqual(p.stateFiles(), []);
  const text = p.cli([...args, '--dry-run'], { text: true }).stdout;
  assert.match(text, /^Dry run \(nothing written\): [0-9a-f]{16}/);
  assert.match(text, /… 10 more …/);
  assert.match(text, /Write the plan: chkit-backfill plan --target app\.events --from 2025-01-01 --to 2025-01-01T20:00:00Z\n$/);
  assert.deepEqual(p.stateFiles(), []);
  const real = p.cli(args);
  assert.equal(real.json.planId, dry.json.planId, 'the dry run previews the same plan');
  assert.deepEqual(p.stateFiles(), [`plans/${real.json.planId}.json`]);
});

test('list shows every plan with status, window, progress and rows', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  const empty = p.cli(['list'], { text: true });
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /^No backfill plans in /);
  await seedEvents(p, { hours: 24, rowsPerHour: 10 });
  const a = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']).json;
  const b = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01T06:00:00Z', '--to', '2025-01-01T12:00:00Z']).json;
  assert.equal(p.cli(['run', '--plan-id', a.planId]).code, 0);
  const list = p.cli(['list']);
  assert.equal(list.code, 0);
  const byId = Object.fromEntries(list.json.plans.map((x) => [x.planId, x]));
  assert.equal(byId[a.planId].status, 'completed');
  assert.deepEqual(byId[a.planId].chunkCounts, { total: 4, pending: 0, running: 0, checking: 0, done: 4, failed: 0, skipped: 0 });
  assert.equal(byId[a.planId].rowsWritten, 240);
  assert.equal(byId[b.planId].status, 'planned');
  assert.equal(byId[b.planId].chunkCounts.pending, 1);
  assert.equal(byId[b.planId].updatedAt, null);
  assert.equal(list.json.plans[0].planId, a.planId, 'most recently updated first');
  const text = p.cli(['list'], { text: true }).stdout;
  assert.match(text, new RegExp(`${a.planId}  completed   app\\.events \\(table\\)\\n    2025-01-01 → 2025-01-02  4/4 chunks  240 rows  \\d\\d-\\d\\d \\d\\d:\\d\\d\\n`));
  assert.ok(within80(text), text);
  for (const cmd of [['status', '--plan-id', a.planId], ['doctor', '--plan-id', b.planId], ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']]) {
    const out = p.cli(cmd, { text: true }).stdout;
    assert.ok(within80(out.replace(/\/tmp\/[^\s]+/g, '/tmp/…')), out);
  }
});

test('status --chunks: one row per chunk, failed first, with attempts, rows, duration and error', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6, maxRetriesPerChunk: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24, rowsPerHour: 10 });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']).json;
  // Half the window runs, then the target vanishes and the rest fails at once.
  const half = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']).json;
  assert.equal(p.cli(['run', '--plan-id', half.planId]).code, 0);
  await p.exec('RENAME TABLE app.events TO app.gone');
  assert.equal(p.cli(['run', '--plan-id', plan.planId]).code, 1);
  await p.exec('RENAME TABLE app.gone TO app.events');
  const s = p.cli(['status', '--plan-id', plan.planId, '--chunks']);
  assert.equal(s.code, 0);
  assert.equal(s.json.chunks.length, 4);
  assert.ok(s.json.chunks.every((c) => c.status === 'failed' && c.attempts === 1 && c.lastError.code === 60));
  assert.equal(p.cli(['resume', '--plan-id', plan.planId]).code, 0);
  const done = p.cli(['status', '--plan-id', plan.planId, '--chunks']);
  assert.deepEqual(done.json.chunks.map((c) => [c.index, c.status, c.attempts, c.rowsWritten]), [
    [1, 'done', 2, 120],
    [2, 'done', 2, 120],
    [3, 'done', 2, 60],
    [4, 'done', 2, 60],
  ]);
  assert.ok(done.json.chunks.every((c) => c.durationMs >= 0 && c.lastError === null));
  const text = p.cli(['status', '--plan-id', plan.planId, '--chunks'], { text: true }).stdout;
  assert.match(text, /  #  window \(UTC\) +status +try +rows +time  error\n  1  01-01 00:00 → 01-01 06:00 done +2 +120 +\d+\.\ds\n/);
  assert.ok(within80(text));
});

test('run --dry-run prints the SQL of the chunks that would execute and changes nothing', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24, rowsPerHour: 10 });
  const plan = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']).json;
  const before = p.stateFiles();
  const dry = p.cli(['run', '--plan-id', plan.planId, '--dry-run']);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.equal(dry.json.dryRun, true);
  assert.equal(dry.json.status, 'planned');
  assert.equal(dry.json.chunks.length, 4);
  assert.match(dry.json.chunks[3].sql[0], /^\/\* chkit-backfill plan=[0-9a-f]{16} chunk=[0-9a-f]{16} token=chkit-[0-9a-f]{32} \*\/\nINSERT INTO `app`\.`events`/);
  assert.deepEqual(p.stateFiles(), before, 'nothing written');
  const [{ c }] = await p.rows('SELECT count() AS c FROM app.events');
  assert.equal(Number(c), 240, 'nothing executed');
  assert.equal(p.cli(['run', '--plan-id', plan.planId]).code, 0);
  assert.equal(p.cli(['run', '--plan-id', plan.planId, '--dry-run']).json.chunks.length, 0);
  const replay = p.cli(['run', '--plan-id', plan.planId, '--dry-run', '--replay-done'], { text: true });
  assert.match(replay.stdout, /^Dry run of run [0-9a-f]{16} \(nothing executed, nothing written\): 4 of 4 chunk\(s\)\n/);
  assert.equal((replay.stdout.match(/^-- chunk \d\/4 /gm) ?? []).length, 4);
});
