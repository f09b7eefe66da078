// Every failure is one clean answer: a full or read-only state directory, a
// config or schema file that throws, a missing config. Exit 1 (runtime) or 2
// (config), one line naming the cause, with --json exactly one
// { ok: false, command, error, code } document, the lock released, no stack
// trace unless CHKIT_DEBUG=1. And no user name or password in any state file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject, seedEvents, sh } from './helpers/project.mjs';

const STACK = /\n\s+at .+[:(]/;

/** The whole output of a text-mode run: exactly one line. */
function oneLine(r) {
  const out = (r.stdout + r.stderr).trim();
  assert.equal(out.split('\n').length, 1, `one line expected, got:\n${out}`);
  return out;
}

/** --json: stdout is exactly one failure document, stderr has no stack. */
function failureDoc(r, command) {
  let doc;
  assert.doesNotThrow(() => (doc = JSON.parse(r.stdout)), `one JSON document expected on stdout, got:\n${r.stdout}\n--- stderr\n${r.stderr}`);
  assert.equal(doc.ok, false);
  assert.equal(doc.command, command);
  assert.equal(typeof doc.error, 'string');
  assert.match(doc.code, /^[a-z_]+$/, `a code: ${JSON.stringify(doc)}`);
  assert.doesNotMatch(r.stderr, STACK, 'no stack trace without CHKIT_DEBUG');
  return doc;
}

/** Text, JSON and CHKIT_DEBUG=1 runs of one failing command line. */
function expectCleanFailure(p, args, { exit, match, command = args[0], cwd }) {
  const text = p.cli(args, { text: true, cwd });
  assert.equal(text.code, exit, text.stdout + text.stderr);
  assert.match(oneLine(text), match);
  assert.doesNotMatch(text.stdout + text.stderr, STACK);
  const json = p.cli(args, { cwd });
  assert.equal(json.code, exit, json.stdout + json.stderr);
  const doc = failureDoc(json, command);
  assert.match(doc.error, match);
  const debug = p.cli(args, { text: true, cwd, env: { CHKIT_DEBUG: '1' } });
  assert.equal(debug.code, exit);
  assert.match(debug.stderr, STACK, 'CHKIT_DEBUG=1 prints the stack on stderr');
  return doc;
}

const planArgs = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02', '--time-column', 'ts'];

test('a config whose function form throws: exit 2, one line naming the file, JSON with code', async (t) => {
  const p = createProject({ configText: `export default () => { throw new Error('no config for you'); };\n` });
  t.after(p.cleanup);
  const doc = expectCleanFailure(p, planArgs, { exit: 2, match: /clickhouse\.config\.ts.*no config for you/ });
  assert.equal(doc.code, 'config_failed');
  assert.deepEqual(p.stateFiles(), []);
});

test('a config that throws at the top level: exit 2, one line, JSON with code', async (t) => {
  const p = createProject({ configText: `throw new Error('top level boom');\nexport default {};\n` });
  t.after(p.cleanup);
  const doc = expectCleanFailure(p, planArgs, { exit: 2, match: /clickhouse\.config\.ts.*top level boom/ });
  assert.equal(doc.code, 'config_failed');
});

test('a config with a syntax error: exit 2, one line, JSON with code', async (t) => {
  const p = createProject({ configText: `export default { plugins: [ ;\n` });
  t.after(p.cleanup);
  const doc = expectCleanFailure(p, planArgs, { exit: 2, match: /clickhouse\.config\.ts/ });
  assert.equal(doc.code, 'config_failed');
});

test('no config, and an explicit --config that does not exist: exit 2, one line, JSON with code', async (t) => {
  const p = createProject({ connection: false });
  t.after(p.cleanup);
  fs.rmSync(path.join(p.dir, 'clickhouse.config.ts'));
  assert.equal(expectCleanFailure(p, planArgs, { exit: 2, match: /No clickhouse\.config\.ts/ }).code, 'config_not_found');
  const doc = expectCleanFailure(p, [...planArgs, '--config', 'nope.config.ts'], { exit: 2, match: /nope\.config\.ts/ });
  assert.equal(doc.code, 'config_not_found');
});

test('the other config refusals carry a code too', async (t) => {
  const cases = [
    [`export default 42;\n`, 'config_invalid', /must export a config/],
    [`export default { plugins: [] };\n`, 'plugin_not_registered', /not registered/],
    [`export default { plugins: [7] };\n`, 'plugin_invalid', /Invalid plugin registration/],
    [`export default { plugins: [{ resolve: './nope-plugin.ts' }] };\n`, 'plugin_load_failed', /Failed to load plugin/],
  ];
  for (const [configText, code, match] of cases) {
    const p = createProject({ configText });
    t.after(p.cleanup);
    assert.equal(expectCleanFailure(p, planArgs, { exit: 2, match }).code, code, configText);
  }
});

test('a schema file that throws: exit 2, one line naming the file, JSON with code', async (t) => {
  const p = createProject({
    schema: ['./schema.ts'],
    options: { defaults: { timeColumn: 'ts' } },
    files: { 'schema.ts': `throw new Error('schema exploded');\n` },
  });
  t.after(p.cleanup);
  const doc = expectCleanFailure(p, planArgs, { exit: 2, match: /schema\.ts.*schema exploded/ });
  assert.equal(doc.code, 'schema_load_failed');
  assert.deepEqual(p.stateFiles(), []);
});

test('an exception escaping a command under the standalone host: --json still prints one document', async (t) => {
  const p = createProject({
    configText: `export default { plugins: [{ resolve: './thrower.ts' }] };\n`,
    files: {
      'thrower.ts': `export default { manifest: { name: 'backfill', apiVersion: 1 }, commands: [{ name: 'boom', description: 'x', run() { throw new Error('kaput'); } }] };\n`,
    },
  });
  t.after(p.cleanup);
  const r = p.cli(['boom']);
  assert.equal(r.code, 1);
  assert.match(failureDoc(r, 'boom').error, /kaput/);
});

// ---- the state directory on a filesystem of its own ----------------------

/**
 * The project's ./state on a tmpfs of its own, or why not (not root, no mount). Unmounted
 * before the project is removed.
 */
function stateOnTmpfs(t, p, opts) {
  const dir = path.join(p.dir, 'state');
  let mounted = false;
  t.after(() => {
    if (mounted) sh('umount', [dir]);
    p.cleanup();
  });
  if (process.getuid?.() !== 0) return { why: 'needs root to mount a tmpfs' };
  fs.mkdirSync(dir, { recursive: true });
  const r = sh('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  if (r.status !== 0) return { why: `mount -t tmpfs failed: ${r.stderr.trim()}` };
  mounted = true;
  return { dir };
}

/** Fill the filesystem holding `dir` with one file, then give back `free` bytes of it. */
function fillLeaving(dir, free) {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const big = Buffer.alloc(64 << 10, 1);
  let size = 0;
  try {
    for (let step = big.length; step >= 1; ) {
      try {
        size += fs.writeSync(fd, big, 0, step);
      } catch (err) {
        if (err.code !== 'ENOSPC') throw err;
        step >>= 1;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.truncateSync(filler, Math.max(0, size - free));
  return filler;
}

const readEvents = (file) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a torn last line
      }
    });

function allFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

test('disk full mid-run (parallel table run): exit 1 with one JSON document, lock released, resume applies every window once', async (t) => {
  const p = createProject({
    options: { stateDir: './state', defaults: { timeColumn: 'event_time', chunkHours: 0.5, maxParallelChunks: 2, retryDelayMs: 10 } },
  });
  const { dir: stateDir, why } = stateOnTmpfs(t, p, 'size=2m');
  if (why) return t.skip(why);
  await seedEvents(p, { hours: 48, rowsPerHour: 60 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-03']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const planId = planned.json.planId;
  assert.equal(planned.json.chunkCount, 96);
  const eventFile = path.join(stateDir, 'events', `${planId}.ndjson`);
  const lockFile = path.join(stateDir, 'locks', `${planId}.lock`);

  // Room for a few pages: the event log of 96 chunks needs many more.
  const filler = fillLeaving(stateDir, 24 << 10);
  const r = p.cli(['run', '--plan-id', planId]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.signal, null);
  const doc = failureDoc(r, 'run');
  assert.equal(doc.code, 'disk_full');
  assert.match(doc.error, /no space left/i);
  assert.ok(doc.error.includes(stateDir), `names the file: ${doc.error}`);
  assert.ok(!fs.existsSync(lockFile), 'the lock is released');
  assert.deepEqual(allFiles(stateDir).filter((f) => f.endsWith('.tmp')), [], 'no temp files left behind');
  const logged = readEvents(eventFile);
  // Chunks are logged done in batches (one window count for many): mid-run is some started, not all done.
  const done = logged.filter((e) => e.event === 'chunk_succeeded').length;
  const started = logged.filter((e) => e.event === 'chunk_started').length;
  assert.ok(started > 0 && done < 96, `stopped mid-run (${started} chunks started, ${done} logged done)`);

  // No statement without its measurement in the log: a window that gained rows was measured first.
  // (by its own count, or by the grid count at run start)
  const measured = new Set(logged.flatMap((e) => (e.event === 'chunk_measured' ? [e.chunk] : e.event === 'windows_measured' ? e.chunks : [])));
  const perWindow = async () =>
    (
      await p.rows(
        `SELECT intDiv(toUnixTimestamp(event_time) - toUnixTimestamp(toDateTime('2025-01-01 00:00:00', 'UTC')), 1800) AS w, count() AS c FROM app.events GROUP BY w ORDER BY w`,
      )
    ).map((x) => [Number(x.w), Number(x.c)]);
  for (const [w, c] of await perWindow()) {
    if (c !== 30) assert.ok(measured.has(w) && c === 60, `window ${w} holds ${c} rows; measured first: ${measured.has(w)}`);
  }

  fs.rmSync(filler);
  const resumed = p.cli(['resume', '--plan-id', planId]);
  assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  assert.equal(resumed.json.status, 'completed');
  const windows = await perWindow();
  assert.equal(windows.length, 96);
  for (const [w, c] of windows) assert.equal(c, 60, `window ${w}: every row exactly once more`);
});

test('a read-only state directory: exit 1, one line saying it is read-only, JSON with code', async (t) => {
  const p = createProject({ options: { stateDir: './state', defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  const { dir: stateDir, why } = stateOnTmpfs(t, p, 'size=2m');
  if (why) return t.skip(why);
  await seedEvents(p, { hours: 24 });
  const planned = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const remount = sh('mount', ['-o', 'remount,ro', stateDir]);
  if (remount.status !== 0) return t.skip(`remount read-only failed: ${remount.stderr.trim()}`);

  const readOnly = new RegExp(`${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.* is read-only`);
  const run = expectCleanFailure(p, ['run', '--plan-id', planned.json.planId], { exit: 1, match: readOnly });
  assert.equal(run.code, 'state_read_only');
  const plan = expectCleanFailure(p, ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02', '--chunk-hours', '3'], {
    exit: 1,
    match: readOnly,
  });
  assert.equal(plan.code, 'state_read_only');
  const cancel = expectCleanFailure(p, ['cancel', '--plan-id', planned.json.planId], { exit: 1, match: readOnly });
  assert.equal(cancel.code, 'state_read_only');
});

// ---- no user name or password in state ----------------------------------

const USER = 'zorro_user_q7';
const PASSWORD = 'pw_q7_Xk2s';

test('no user name or password in any state file after plan + run + status (username/password fields)', async (t) => {
  const p = createProject({
    configText: `import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';
export default defineConfig({
  clickhouse: { url: 'chdb:./data', database: 'app', username: ${JSON.stringify(USER)}, password: ${JSON.stringify(PASSWORD)} },
  plugins: [backfill({ defaults: { timeColumn: 'event_time', chunkHours: 6, maxRetriesPerChunk: 1, retryDelayMs: 0 } })],
});
`,
  });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.src_rows', hours: 24 });
  // The embedded engine ignores the user name, so it cannot refuse a grant itself: the source
  // view fails half the window with the text a server's ACCESS_DENIED carries (it names the user
  // and, in a URL, the password), so that the failure reaches the event log and the snapshot.
  const denied = `${USER}: Not enough privileges. To execute this query, it is necessary to have the grant SELECT ON app.src_rows (http://${USER}:${PASSWORD}@db)`;
  await p.exec(
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + throwIf(event_time >= toDateTime('2025-01-01 12:00:00', 'UTC'), '${denied}') AS value FROM app.src_rows`,
    'CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY event_time',
  );
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(planned.code, 0, planned.stdout + planned.stderr);
  const planId = planned.json.planId;
  const run = p.cli(['run', '--plan-id', planId]);
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.equal(run.json.chunkCounts.failed, 2, 'the half past the grant failed');
  assert.match(run.json.lastError.message, /Not enough privileges/, 'the cause is still told');
  const status = p.cli(['status', '--plan-id', planId, '--chunks']);
  assert.equal(status.code, 0);

  const files = allFiles(p.stateDir);
  assert.ok(files.some((f) => f.includes(`${path.sep}events${path.sep}`)) && files.some((f) => f.includes(`${path.sep}runs${path.sep}`)));
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    assert.ok(!text.includes(USER), `${path.relative(p.dir, f)} holds the user name`);
    assert.ok(!text.includes(PASSWORD), `${path.relative(p.dir, f)} holds the password`);
  }
  for (const out of [run.stdout, run.stderr, status.stdout, status.stderr]) {
    assert.ok(!out.includes(USER) && !out.includes(PASSWORD), 'nor in what is printed');
  }
});

test('no user name or password from a URL of the form http://user:pass@host in what is stored or printed', async (t) => {
  // Nothing listens on port 9: plan fails to connect, with the URL's credentials known only to the client.
  const p = createProject({
    configText: `import { backfill } from '@chkit/plugin-backfill';
export default {
  clickhouse: { url: 'http://${USER}:${PASSWORD}@127.0.0.1:9', database: 'app' },
  plugins: [backfill({ defaults: { timeColumn: 'event_time' } })],
};
`,
  });
  t.after(p.cleanup);
  const r = p.cli(['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(failureDoc(r, 'plan').code, 'clickhouse_error');
  assert.ok(!(r.stdout + r.stderr).includes(USER) && !(r.stdout + r.stderr).includes(PASSWORD));
  for (const f of fs.existsSync(p.stateDir) ? allFiles(p.stateDir) : []) {
    const text = fs.readFileSync(f, 'utf8');
    assert.ok(!text.includes(USER) && !text.includes(PASSWORD), f);
  }
});
