// Plans are immutable in fact, and nothing erases applied work silently:
// an edited plan file is refused before anything executes, `plan --force`
// does not throw away a run that applied chunks, and options that do not
// change the rows written do not make a plan "different".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents, MINUTE_ROWS } from './helpers/project.mjs';

/** Rewrite the backfill options in the project's config. */
function setOptions(p, options) {
  const file = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/backfill\(.*\)\]/, `backfill(${JSON.stringify(options)})]`));
}

/** The plan file's lines: the header, then one chunk per line. */
const planLines = (file) => fs.readFileSync(file, 'utf8').split('\n');

/**
 * A copy plan of 4 chunks (3 h each) of 180 rows from a view that fails for
 * rows from 06:00 on: a run applies chunks 1 and 2 and fails 3 and 4.
 */
async function partialCopyRun(t) {
  const defaults = { timeColumn: 'event_time', chunkHours: 3, maxRetriesPerChunk: 1, retryDelayMs: 10 };
  const p = createProject({ options: { defaults } });
  t.after(p.cleanup);
  await p.exec(
    ...MINUTE_ROWS,
    `CREATE VIEW app.flaky AS SELECT event_time, user_id + throwIf(event_time >= toDateTime('2025-01-01 06:00:00', 'UTC'),
       'simulated failure', toInt32(202)) AS user_id FROM app.base SETTINGS allow_custom_error_code_in_throwif = 1`,
  );
  const args = ['plan', '--target', 'app.events', '--source', 'app.flaky', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z'];
  const planned = p.cli(args);
  assert.equal(planned.code, 0, planned.stdout);
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.json.chunkCounts.done, 2, r.stdout);
  return { p, args, defaults, planId: planned.json.planId, planPath: planned.json.planPath, eventPath: r.json.eventPath, runPath: r.json.runPath };
}

const count = async (p, table = 'app.events') => Number((await p.rows(`SELECT count() AS c FROM ${table}`))[0].c);

test('plan --force after a partial run is refused; --force --discard-applied replaces it and keeps the old state', async (t) => {
  const { p, args, defaults, planId, planPath, eventPath, runPath } = await partialCopyRun(t);
  assert.equal(await count(p), 360);
  // An option that changes the rows: the plan under the same id differs.
  setOptions(p, { defaults: { ...defaults, requireIdempotencyToken: false } });
  const conflict = p.cli(args);
  assert.equal(conflict.code, 2, conflict.stdout);
  assert.equal(conflict.json.code, 'plan_conflict');

  const files = p.stateFiles();
  const before = Object.fromEntries([planPath, eventPath, runPath].map((f) => [f, fs.readFileSync(f, 'utf8')]));
  const refused = p.cli([...args, '--force']);
  assert.equal(refused.code, 2, refused.stdout);
  assert.equal(refused.json.code, 'applied_chunks');
  assert.match(refused.json.error, /applied 2 of 4 chunks \(360 rows\)/);
  assert.match(refused.json.error, /twice \(duplicates\)/);
  assert.match(refused.json.error, new RegExp(`resume --plan-id ${planId}`));
  // Nothing written: the run is intact.
  assert.deepEqual(p.stateFiles(), files);
  for (const [f, text] of Object.entries(before)) assert.equal(fs.readFileSync(f, 'utf8'), text, f);
  const status = p.cli(['status', '--plan-id', planId]);
  assert.equal(status.json.chunkCounts.done, 2);
  assert.equal(await count(p), 360);

  const text = p.cli([...args, '--force', '--discard-applied'], { text: true });
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /kept {6}.*events.*\.ndjson\.replaced-/);
  // The old plan, snapshot and log are kept under new names, byte for byte.
  const kept = p.stateFiles().filter((f) => f.includes('.replaced-'));
  assert.equal(kept.length, 3, kept.join(', '));
  for (const [f, old] of Object.entries(before)) {
    const k = kept.find((n) => n.startsWith(path.relative(p.stateDir, f) + '.replaced-'));
    assert.ok(k, `${f} kept`);
    assert.equal(fs.readFileSync(path.join(p.stateDir, k), 'utf8'), old);
  }
  assert.ok(!fs.existsSync(eventPath) && !fs.existsSync(runPath), 'the new plan starts with no run');
  assert.equal(JSON.parse(planLines(planPath)[0] + ']}').options.requireIdempotencyToken, false);
  const list = p.cli(['list']);
  assert.deepEqual(list.json.plans.map((x) => x.planId), [planId], 'kept files are not plans');
  assert.equal(list.json.plans[0].status, 'planned');

  assert.match(conflict.json.error, /a run that applied chunks also needs --discard-applied/);
  // --discard-applied alone is bad input.
  const alone = p.cli([...args, '--discard-applied']);
  assert.equal(alone.code, 2);
  assert.match(alone.json.error, /only goes with --force/);
});

test('options that do not change the rows written keep the same plan; --force with nothing applied keeps the old files', async (t) => {
  const p = createProject({ connection: false, options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-03'];
  const a = p.cli(args);
  assert.equal(a.code, 0, a.stdout);
  const original = fs.readFileSync(a.json.planPath, 'utf8');
  setOptions(p, {
    defaults: { timeColumn: 'event_time', retryDelayMs: 5, maxRetriesPerChunk: 7, maxParallelChunks: 3 },
    policy: { requireDryRunBeforeRun: false, blockOverlappingRuns: false },
  });
  const b = p.cli(args);
  assert.equal(b.code, 0, b.stdout);
  assert.equal(b.json.planId, a.json.planId);
  assert.equal(b.json.existed, true);
  assert.equal(fs.readFileSync(a.json.planPath, 'utf8'), original, 'the existing plan is kept as it is');

  const forced = p.cli([...args, '--force']);
  assert.equal(forced.code, 0, forced.stdout);
  assert.equal(forced.json.keptFiles.length, 1);
  assert.equal(fs.readFileSync(forced.json.keptFiles[0], 'utf8'), original);
});

/** A table plan of 4 chunks over 24 h of 60 rows an hour. */
async function tablePlan(t) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });
  const r = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.chunkCount, 4);
  return { p, planId: r.json.planId, planPath: r.json.planPath };
}

function editChunkLine(planPath, chunk, edit) {
  const lines = planLines(planPath);
  const edited = edit(lines[chunk]);
  assert.notEqual(edited, lines[chunk], 'the edit changes the line');
  lines[chunk] = edited;
  fs.writeFileSync(planPath, lines.join('\n'));
}

test('a chunk whose SQL was edited is refused before anything executes; making the plan again, as advised, runs it exactly', async (t) => {
  const { p, planId, planPath } = await tablePlan(t);
  // Chunk 3 made to re-insert the whole day instead of its 6 hours.
  editChunkLine(planPath, 3, (l) => l.replace("toDateTime('2025-01-01 12:00:00', 'UTC')", "toDateTime('2025-01-01 00:00:00', 'UTC')"));
  const files = p.stateFiles();
  for (const cmd of ['run', 'resume']) {
    const r = p.cli([cmd, '--plan-id', planId]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.json.code, 'plan_mismatch');
    assert.match(r.json.error, /chunk 3 \([0-9a-f]{16}, 2025-01-01T12:00:00.000Z → 2025-01-01T18:00:00.000Z\) has SQL that is not the statement the plan made/);
    assert.match(r.json.error, /nothing was executed: make the plan again/);
  }
  const dry = p.cli(['run', '--plan-id', planId, '--dry-run']);
  assert.equal(dry.code, 1);
  assert.equal(dry.json.code, 'plan_mismatch');
  assert.equal(await count(p), 1440, 'the target is unchanged');
  assert.deepEqual(p.stateFiles(), files, 'no run was recorded');

  // Following the advice: make the plan again with the same flags. The edited file differs from
  // what planning gives, so `plan` asks for --force; nothing was applied, so --force goes through.
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02'];
  const again = p.cli(args);
  assert.equal(again.code, 2, again.stdout);
  assert.equal(again.json.code, 'plan_conflict');
  assert.match(again.json.error, /--force/);
  const forced = p.cli([...args, '--force']);
  assert.equal(forced.code, 0, forced.stdout);
  assert.equal(forced.json.planId, planId, 'the same plan, made again');
  const ran = p.cli(['run', '--plan-id', planId]);
  assert.equal(ran.code, 0, ran.stdout);
  assert.equal(await count(p), 2880, 'every row of the day re-inserted exactly once');
  const perHour = await p.rows("SELECT toHour(event_time) AS h, count() AS c FROM app.events GROUP BY h ORDER BY h");
  assert.ok(perHour.every((r) => Number(r.c) === 120), JSON.stringify(perHour));
});

test('a middle chunk whose window was edited is refused, naming it', async (t) => {
  const { p, planId, planPath } = await tablePlan(t);
  editChunkLine(planPath, 2, (l) => l.replace('"from":"2025-01-01T06:00:00.000Z"', '"from":"2025-01-01T05:00:00.000Z"'));
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout);
  assert.equal(r.json.code, 'plan_mismatch');
  assert.match(r.json.error, /chunk 2 in the file is [0-9a-f]{16} 2025-01-01T05:00:00.000Z → 2025-01-01T12:00:00.000Z, not the chunk its window cuts/);
  assert.equal(await count(p), 1440);
});

test('an untouched plan runs, and so does a table plan written before plans carried SQL digests', async (t) => {
  const { p, planId, planPath } = await tablePlan(t);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 'completed');
  assert.equal(await count(p), 2880);

  // The previous version wrote no sqlDigests: a table plan is checked by regenerating its SQL.
  const lines = planLines(planPath);
  const header = JSON.parse(lines[0] + ']}');
  assert.equal(header.sqlDigests.length, 1);
  lines[0] = lines[0].replace(/"sqlDigests":\[[^\]]*\],/, '');
  assert.ok(!('sqlDigests' in JSON.parse(lines[0] + ']}')));
  fs.writeFileSync(planPath, lines.join('\n'));
  const again = p.cli(['run', '--plan-id', planId, '--replay-done', '--force-compatibility']);
  assert.equal(again.code, 0, again.stdout);
  assert.equal(again.json.chunkCounts.done, 4);
  // ...and still refused once edited.
  editChunkLine(planPath, 1, (l) => l.replace('SELECT `event_time`', 'SELECT DISTINCT `event_time`'));
  const edited = p.cli(['run', '--plan-id', planId, '--replay-done', '--force-compatibility']);
  assert.equal(edited.code, 1, edited.stdout);
  assert.match(edited.json.error, /chunk 1 \(/);
});
