// What makes a run cheap without dropping a check: commands that never connect load
// neither the client nor the engine, and mv_replay's rows come from one system.parts query
// per insert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, createProject, seedEvents } from './helpers/project.mjs';

test('status, list, check and cancel load neither the ClickHouse client, the embedded engine nor the transpiler on a warm start', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 4, rowsPerHour: 4 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const id = planned.json.planId;
  // The packages, not our own shim modules (server/chdb_session.js loads chdb only when called).
  const heavy = { client: /node_modules\/@clickhouse\/client\//, engine: /node_modules\/chdb\//, babel: /babel\.cjs/ };
  const traced = (args) => {
    const trace = path.join(p.dir, `trace-${args[0]}.txt`);
    const r = spawnSync(process.execPath, ['--import', path.join(import.meta.dirname, 'helpers', 'trace_modules.mjs'), BIN, ...args, '--json'], {
      cwd: p.dir,
      encoding: 'utf8',
      env: { ...process.env, TRACE_MODULES: trace },
    });
    return { r, loaded: fs.readFileSync(trace, 'utf8') };
  };
  for (const args of [['status', '--plan-id', id, '--chunks'], ['list'], ['check'], ['cancel', '--plan-id', id]]) {
    const { r, loaded } = traced(args);
    assert.ok(r.status === 0 || (args[0] === 'check' && r.status === 1), `${args[0]}: ${r.status} ${r.stdout}${r.stderr}`);
    assert.match(loaded, /dist\/cli\/host\.js/, 'the trace sees the modules');
    for (const [name, re] of Object.entries(heavy)) assert.doesNotMatch(loaded, re, `${args[0]} loaded the ${name}`);
  }
  // A command that connects loads the engine: the patterns above do match; the embedded engine needs no HTTP client.
  const { r, loaded } = traced(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z', '--force']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(loaded, heavy.engine);
  assert.doesNotMatch(loaded, heavy.client, 'an embedded plan loads no HTTP client');
});

test('an edited config is read again, not served from the transpile cache', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 4, rowsPerHour: 4 });
  const args = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T04:00:00Z'];
  const first = p.cli(args);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.equal(first.json.chunkCount, 4);
  const file = path.join(p.dir, 'clickhouse.config.ts');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"chunkHours":1', '"chunkHours":2'));
  const second = p.cli([...args, '--force']);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(second.json.chunkCount, 2, 'the edited chunkHours');
});

test('mv_replay on the embedded engine: each insert counted by the parts it made, the next starting where the last ended', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 2 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 12, rowsPerHour: 20 });
  await p.exec(
    `CREATE TABLE app.copy (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time
     SETTINGS non_replicated_deduplication_window = 100`,
    'CREATE MATERIALIZED VIEW app.copy_mv TO app.copy AS SELECT event_time, user_id FROM app.events',
  );
  const planned = p.cli(['plan', '--target', 'app.copy', '--from', '2025-01-01', '--to', '2025-01-01T12:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  assert.equal(planned.json.strategy, 'mv_replay');
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const events = () => fs.readFileSync(r.json.eventPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const ok = events().filter((e) => e.event === 'chunk_succeeded');
  assert.deepEqual(ok.map((e) => e.rows), Array(6).fill(40), 'each chunk its own rows, none of its neighbour');
  assert.equal(r.json.rowsWritten, 240);
  // Sent again with the same tokens: the target drops them, and that counts 0 rows per chunk.
  const replay = p.cli(['run', '--plan-id', planned.json.planId, '--replay-done']);
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  const [c] = await p.rows('SELECT count() AS c FROM app.copy');
  assert.equal(Number(c.c), 240);
  const second = events().filter((e) => e.event === 'chunk_succeeded').slice(6);
  assert.deepEqual(second.map((e) => e.rows), Array(6).fill(0));
});

test('table strategy: every window measured by one grid count before the first insert, with the checksums verify compares', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  // Data in hours 0-9 of the window and none in 10-13: the empty ones are skipped.
  await seedEvents(p, { hours: 10, rowsPerHour: 30 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-01T14:00:00Z']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual([r.json.chunkCounts.done, r.json.chunkCounts.skipped, r.json.rowsWritten], [10, 4, 300]);
  const ev = fs.readFileSync(r.json.eventPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const names = ev.map((e) => e.event);
  const grid = ev.filter((e) => e.event === 'windows_measured');
  assert.equal(grid.length, 1);
  assert.deepEqual(grid[0].chunks, [...Array(14).keys()]);
  assert.deepEqual(grid[0].before, [...Array(10).fill(30), 0, 0, 0, 0]);
  assert.deepEqual(grid[0].expected, grid[0].before);
  assert.ok(grid[0].checksums.slice(0, 10).every((h) => /^[1-9]\d*:x[1-9]\d*$/.test(h)), grid[0].checksums.join(' '));
  assert.deepEqual(grid[0].checksums.slice(10), Array(4).fill('0:0'));
  assert.ok(names.indexOf('windows_measured') < names.indexOf('chunk_started'), 'measured before the first chunk starts');
  assert.equal(names.filter((n) => n === 'chunk_measured').length, 0, 'no count per chunk before its insert');
  const [c] = await p.rows("SELECT count() AS c FROM app.events WHERE event_time < toDateTime('2025-01-01 10:00:00', 'UTC')");
  assert.equal(Number(c.c), 600, 'every row of the window once more');
  // verify compares the content of every window against the grid's checksums.
  const v = p.cli(['verify', '--plan-id', planned.json.planId, '--chunks']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.ok(v.json.chunks.every((x) => x.verdict === 'ok' && x.contentChecked), JSON.stringify(v.json.chunks));
  await p.exec("ALTER TABLE app.events UPDATE value = value + 1 WHERE event_time = toDateTime('2025-01-01 04:00:00', 'UTC') AND user_id = 120 SETTINGS mutations_sync = 2");
  const bad = p.cli(['verify', '--plan-id', planned.json.planId]);
  assert.equal(bad.code, 1, bad.stdout);
  assert.deepEqual(bad.json.chunks.map((x) => [x.index, x.verdict]), [[5, 'differs']]);
});

test('the standalone host keeps jiti compiled in a code cache of the user\'s own: written once, read after, ignored when it is not theirs', async (t) => {
  if (typeof (await import('node:module')).default.enableCompileCache === 'function') {
    t.skip('this Node keeps its own compile cache');
    return;
  }
  const p = createProject({ connection: false, options: { defaults: { timeColumn: 'event_time' } } });
  t.after(p.cleanup);
  const list = (tmp, env = {}) => {
    fs.mkdirSync(tmp, { recursive: true });
    const r = p.cli(['list'], { env: { TMPDIR: tmp, ...env } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    return r.json;
  };
  const cacheOf = (tmp) => path.join(tmp, `chkit-backfill-code-cache-${process.getuid()}`);
  const entries = (tmp) => (fs.existsSync(cacheOf(tmp)) ? fs.readdirSync(cacheOf(tmp)) : []);

  const tmp = path.join(p.dir, 'tmp-a');
  const cold = list(tmp);
  assert.equal(fs.statSync(cacheOf(tmp)).mode & 0o777, 0o700, 'a directory only the user can read');
  const [entry] = entries(tmp);
  assert.match(entry ?? '', /^[0-9a-f]{32}\.v8$/, entries(tmp).join(' '));
  assert.equal(entries(tmp).length, 1, 'one bundle is big enough to cache');
  const file = path.join(cacheOf(tmp), entry);
  const written = fs.statSync(file);
  assert.ok(written.size > 10_000, `${written.size} bytes`);

  // Read back and accepted: not written again.
  assert.deepEqual(list(tmp), cold);
  assert.equal(fs.statSync(file).mtimeMs, written.mtimeMs, 'an accepted entry stays as it was');

  // An entry V8 rejects is compiled from source and written anew.
  fs.writeFileSync(file, Buffer.alloc(4096, 7));
  assert.deepEqual(list(tmp), cold);
  assert.ok(fs.statSync(file).size > 10_000 && !fs.readFileSync(file).equals(Buffer.alloc(4096, 7)), 'written anew');

  // A directory others can write is not used (they could hand us their code).
  const shared = path.join(p.dir, 'tmp-b');
  fs.mkdirSync(cacheOf(shared), { recursive: true });
  fs.chmodSync(cacheOf(shared), 0o777);
  assert.deepEqual(list(shared), cold);
  assert.deepEqual(entries(shared), []);

  // Turned off: no directory at all.
  const off = path.join(p.dir, 'tmp-c');
  assert.deepEqual(list(off, { CHKIT_BACKFILL_CODE_CACHE: '0' }), cold);
  assert.equal(fs.existsSync(cacheOf(off)), false);

  // Any other value is refused: exit 2, one document, no cache directory, no state.
  const bad = path.join(p.dir, 'tmp-d');
  fs.mkdirSync(bad);
  for (const text of [false, true]) {
    const r = p.cli(['list'], { text, env: { TMPDIR: bad, CHKIT_BACKFILL_CODE_CACHE: 'off' } });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    if (text) assert.match(r.stderr, /CHKIT_BACKFILL_CODE_CACHE must be 0 \(off\) or 1 \(on\), not "off"/);
    else assert.deepEqual({ ok: r.json.ok, code: r.json.code }, { ok: false, code: 'invalid_env' });
  }
  assert.equal(fs.existsSync(cacheOf(bad)), false);
  assert.deepEqual(p.stateFiles(), []);
});

test('table strategy: the window counts run beside the next inserts, not between them (each count held back by the test)', async (t) => {
  // The run in this process, as `run` drives it, with the real executor on the embedded engine;
  // only its `check` is held back: its answer waits until every chunk has been started, or
  // until the driver, with no chunk in flight, has started none by the event loop's next turn
  // (it is waiting for the count). A driver that waits for each count before starting the next
  // chunk starts none meanwhile.
  const { connect } = await import('../dist/server/clickhouse.js');
  const { drive, sqlExecutor } = await import('../dist/engine/driver.js');
  const { measureWindows, timeColumnOnGrid } = await import('../dist/engine/baselines.js');
  const { openRun } = await import('../dist/engine/runs.js');
  const { verifyPlan } = await import('../dist/engine/plan_check.js');
  const { EventLog, eventPath, readPlan, runPath, statePaths } = await import('../dist/engine/store.js');
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 1 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 48, rowsPerHour: 60 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-03']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  assert.equal(planned.json.strategy, 'table');
  const chunks = planned.json.chunkCount;
  assert.equal(chunks, 48);

  const paths = statePaths(p.stateDir);
  const plan = readPlan(paths, planned.json.planId);
  verifyPlan(plan, 'app');
  const ch = await connect({ url: 'chdb:./data', database: 'app' }, p.dir);
  const { machine } = openRun(paths, plan, 'app');
  const log = new EventLog(eventPath(paths, plan.planId), machine.report.logBytes);
  const record = (e) => log.append(machine.apply(e));
  let status;
  const seen = { startedWhileCounting: 0, counts: 0 };
  try {
    record({
      event: 'run_started', mode: 'run', compatibility: 'test', pid: process.pid, host: 'test',
      replayDone: false, replayFailed: false, settings: { maxParallelChunks: 1, maxRetriesPerChunk: 3, retryDelayMs: 1000 }, forced: [],
    });
    await measureWindows(ch, plan, machine, record);
    log.sync();
    const real = sqlExecutor(ch, plan, { exactCounts: true, resendWithoutDeduplication: true, rowsByCounters: true });
    let started = 0;
    let running = 0;
    let counting = 0;
    const waiters = [];
    const answer = () => waiters.splice(0).forEach((w) => w());
    // Promise callbacks (the driver's, after an attempt settles) all run before setImmediate's.
    const answerIfStalled = () => {
      if (waiters.length === 0) return;
      if (started >= chunks) return answer();
      if (running > 0) return;
      const at = started;
      setImmediate(() => started === at && running === 0 && answer());
    };
    const executor = {
      run(a, io) {
        started++;
        running++;
        if (counting > 0) seen.startedWhileCounting++;
        const attempt = real.run(a, io);
        attempt
          .finally(() => {
            running--;
            answerIfStalled();
          })
          .catch(() => {});
        answerIfStalled();
        return attempt;
      },
      kill: (a) => real.kill(a),
      async check(batch, sql) {
        counting++;
        seen.counts++;
        try {
          const outcomes = await real.check(batch, sql);
          await new Promise((r) => {
            waiters.push(r);
            answerIfStalled();
          });
          return outcomes;
        } finally {
          counting--;
        }
      },
    };
    status = await drive({ machine, log, executor, countsOnGrid: await timeColumnOnGrid(ch, plan), snapshotFile: runPath(paths, plan.planId) });
  } finally {
    log.close();
    await ch.close();
  }
  assert.equal(status, 'completed');
  assert.ok(seen.counts >= 2, `${seen.counts} counts`);
  assert.ok(seen.startedWhileCounting >= 1, `chunks started while a count ran: ${seen.startedWhileCounting}`);
  const s = machine.summary();
  assert.equal(s.chunkCounts.done, chunks);
  assert.equal(s.rowsWritten, 48 * 60);
  // Each window now holds its rows twice (the table re-inserted into itself), and no more.
  const perHour = await p.rows("SELECT toStartOfHour(event_time) AS h, count() AS n FROM app.events GROUP BY h ORDER BY h");
  assert.equal(perHour.length, 48);
  assert.ok(perHour.every((r) => Number(r.n) === 120), JSON.stringify(perHour.filter((r) => Number(r.n) !== 120)));
});
