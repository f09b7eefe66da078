// mv_replay planning on the embedded engine: where views and time columns
// come from, what is refused (exit 2, nothing written), the window from data.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, createProject } from './helpers/project.mjs';
import { replayPlan } from './helpers/mv_corpus.mjs';

const p = createProject();
after(p.cleanup);

/** Rewrite the project's config (and schema.ts) between tests; one data dir for the file. */
function configure({ options = {}, schema, connection = true, globs } = {}) {
  if (schema !== undefined) fs.writeFileSync(path.join(p.dir, 'schema.ts'), schema);
  const g = globs ?? (schema !== undefined ? ['./schema.ts'] : []);
  fs.writeFileSync(
    path.join(p.dir, 'clickhouse.config.ts'),
    `import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';
export default defineConfig({
  schema: ${JSON.stringify(g)},
  ${connection ? "clickhouse: { url: 'chdb:./data', database: 'app' }," : ''}
  plugins: [backfill(${JSON.stringify(options)})],
});
`,
  );
  fs.rmSync(p.stateDir, { recursive: true, force: true });
}

const SRC = `CREATE TABLE app.src (ts DateTime, created_at DateTime, u UInt64, note String) ENGINE = MergeTree ORDER BY u`;
const TGT = `CREATE TABLE app.tgt (ts DateTime, u UInt64) ENGINE = MergeTree ORDER BY (ts, u)`;
const SEED = `INSERT INTO app.src SELECT toDateTime('2025-01-01 05:30:00', 'UTC') + number * 600, toDateTime('2025-01-01 05:30:00', 'UTC') + number * 600 + 7, number % 5, 'n' FROM numbers(300)`;

const schemaFile = ({ timeColumn, viewWhere = 'u > 1', viewQuery } = {}) => `import { materializedView, table, schema } from '@chkit/core';
export const src = table({
  database: 'app', name: 'src', engine: 'MergeTree', primaryKey: ['u'], orderBy: ['u'],
  columns: [{ name: 'ts', type: 'DateTime' }, { name: 'created_at', type: 'DateTime' }, { name: 'u', type: 'UInt64' }, { name: 'note', type: 'String' }],
  ${timeColumn ? `plugins: { backfill: { timeColumn: ${JSON.stringify(timeColumn)} } },` : ''}
});
export const tgt = table({
  database: 'app', name: 'tgt', engine: 'MergeTree', primaryKey: ['ts', 'u'], orderBy: ['ts', 'u'],
  columns: [{ name: 'ts', type: 'DateTime' }, { name: 'u', type: 'UInt64' }],
});
export default schema(src, tgt, materializedView({
  database: 'app', name: 'tgt_mv', to: { database: 'app', name: 'tgt' },
  as: ${JSON.stringify(viewQuery ?? `SELECT ts, u -- the user\nFROM app.src /* source */ WHERE ${viewWhere}`)},
}));
`;

async function resetDb({ serverView = true } = {}) {
  await p.exec('DROP DATABASE IF EXISTS app SYNC', 'CREATE DATABASE app', SRC, TGT);
  if (serverView) await p.exec('CREATE MATERIALIZED VIEW app.tgt_mv TO app.tgt AS SELECT ts, u FROM app.src WHERE u > 0');
  await p.exec(SEED);
}

const window = ['--from', '2025-01-01', '--to', '2025-01-04'];

test('time column of the source: ambiguity is exit 2 listing candidates; the schema plugin decides', async () => {
  await resetDb();
  configure();
  const r = p.cli(['plan', '--target', 'app.tgt', ...window]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.json.error, /cannot tell which time column of app\.src to use: created_at \(DateTime\), ts \(DateTime\)/);
  assert.deepEqual(p.stateFiles(), []);

  configure({ schema: schemaFile({ timeColumn: 'created_at' }) });
  const ok = p.cli(['plan', '--target', 'app.tgt', ...window]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.deepEqual(ok.json.timeColumns, [{ table: 'app.src', column: 'created_at', origin: 'schema' }]);
  assert.equal(ok.json.views[0].timeColumn, 'created_at');
  assert.equal(ok.json.views[0].source, 'app.src');
  // --time-column names the source's column and beats the schema.
  const flag = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts']);
  assert.equal(flag.code, 0, flag.stdout);
  assert.deepEqual(flag.json.timeColumns, [{ table: 'app.src', column: 'ts', origin: 'flag' }]);
  for (const [col, re] of [['note', /'note' of app\.src is String, not a Date/], ['nope', /'nope' is not a column of app\.src/]]) {
    const bad = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', col]);
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(bad.json.error, re);
  }
});

test('schema and server disagree on the view: warn, replay the server\'s query', async () => {
  await resetDb();
  configure({ schema: schemaFile({ viewWhere: 'u > 1' }) });
  const r = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts', '--chunk-hours', '6']);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.views[0].queryFrom, 'server');
  assert.match(r.json.warnings.join('\n'), /app\.tgt_mv: the query in the schema files differs from the server's; replaying the server's/);
  const live = await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u');
  assert.ok(live.some((row) => row.u === 1), 'the live view (u > 0) wrote u = 1 rows');
  await p.exec('TRUNCATE TABLE app.tgt');
  assert.equal(p.cli(['run', '--plan-id', r.json.planId]).code, 0);
  assert.deepEqual(await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u'), live, 'u > 0 (server), not u > 1 (schema)');
  const text = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts', '--chunk-hours', '6'], { text: true });
  assert.match(text.stdout, /warning: materialized view app\.tgt_mv/);
  assert.match(text.stdout, /view {6}app\.tgt_mv ← app\.src on ts \(ts, u; query from server\)/);
});

test('same query up to formatting and comments: no warning', async () => {
  await resetDb();
  configure({ schema: schemaFile({ viewWhere: 'u>0' }) });
  const r = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts']);
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json.warnings, []);
});

test('a view only in the schema files (no connection) is planned from its schema query', async () => {
  await resetDb({ serverView: false });
  configure({ connection: false, schema: schemaFile({ timeColumn: 'ts', viewWhere: "u > 1 AND note != 'FROM app.src'" }) });
  const r = p.cli(['plan', '--target', 'app.tgt', ...window, '--chunk-hours', '12']);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.strategy, 'mv_replay');
  assert.equal(r.json.views[0].queryFrom, 'schema');
  // No connection configured, so no `run`: execute the plan's statements as the driver would.
  await replayPlan(p, JSON.parse(fs.readFileSync(r.json.planPath, 'utf8')));
  const want = await p.rows('SELECT ts, u FROM app.src WHERE u > 1 ORDER BY ts, u');
  assert.ok(want.length > 0);
  assert.deepEqual(await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u'), want);
});

test('refusals: exit 2, the reason named, nothing written', async () => {
  await resetDb({ serverView: false });
  const cases = [
    [{ schema: schemaFile({ timeColumn: 'ts', viewQuery: 'SELECT a.ts AS ts, b.u AS u FROM app.src AS a JOIN app.src AS b ON a.u = b.u' }) },
      /materialized view app\.tgt_mv: the source table app\.src is read more than once/],
    [{ schema: schemaFile({ timeColumn: 'ts', viewQuery: 'SELECT ts, u FROM app.src UNION ALL SELECT ts, u FROM app.src' }) },
      /materialized view app\.tgt_mv: UNION ALL at the top of the query \(a live view runs only its first SELECT on each insert.*it cannot be replayed safely/],
    [{ options: { defaults: { requireIdempotencyToken: false } }, schema: schemaFile({ timeColumn: 'ts' }) },
      /app\.tgt is the TO table of materialized views, and mv_replay needs defaults\.requireIdempotencyToken: true/],
    [{ schema: 'export default [;\n' }, /schema file schema\.ts failed to load/],
    [{ globs: ['./schemas/**/*.ts'] }, /schema glob \.\/schemas\/\*\*\/\*\.ts matches no file/],
  ];
  for (const [cfg, re] of cases) {
    configure(cfg);
    const r = p.cli(['plan', '--target', 'app.tgt', ...window]);
    assert.equal(r.code, 2, `${re}: ${r.stdout}${r.stderr}`);
    assert.match(r.json.error, re);
    assert.deepEqual(p.stateFiles(), []);
  }
});

test('requireExplicitWindow: false takes the window from the data, widened to whole chunks', async () => {
  await resetDb();
  configure({ options: { policy: { requireExplicitWindow: false } } });
  const r = p.cli(['plan', '--target', 'app.tgt', '--time-column', 'ts', '--chunk-hours', '6']);
  assert.equal(r.code, 0, r.stdout);
  // Data: 2025-01-01 05:30 .. 05:30 + 299 * 10 min = 2025-01-03 07:20.
  assert.equal(r.json.from, '2025-01-01T00:00:00.000Z');
  assert.equal(r.json.to, '2025-01-03T12:00:00.000Z');
  const live = await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u');
  await p.exec('TRUNCATE TABLE app.tgt');
  assert.equal(p.cli(['run', '--plan-id', r.json.planId]).code, 0);
  assert.deepEqual(await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u'), live);

  configure();
  const strict = p.cli(['plan', '--target', 'app.tgt', '--time-column', 'ts']);
  assert.equal(strict.code, 2);
  assert.match(strict.json.error, /needs both --from and --to/);
  await p.exec('TRUNCATE TABLE app.src');
  configure({ options: { policy: { requireExplicitWindow: false } } });
  const empty = p.cli(['plan', '--target', 'app.tgt', '--time-column', 'ts']);
  assert.equal(empty.code, 2, empty.stdout);
  assert.match(empty.json.error, /app\.src has no rows to take a window from/);
});

test('on a terminal: a numbered choice among candidates; declining a detected column is exit 2', async () => {
  await resetDb();
  configure();
  const onTty = (args, input) =>
    spawnSync('script', ['-qec', [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
      cwd: p.dir,
      input,
      encoding: 'utf8',
    });
  const r = onTty(['plan', '--target', 'app.tgt', ...window], '2\n');
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /Which column of app\.src holds the time[\s\S]*1\) created_at \(DateTime\)[\s\S]*2\) ts \(DateTime\)/);
  assert.match(r.stdout, /chunks +\d+ × 6 h on ts/);
  const [file] = p.stateFiles().filter((f) => f.startsWith('plans/'));
  assert.equal(JSON.parse(fs.readFileSync(path.join(p.stateDir, file), 'utf8')).views[0].timeColumn, 'ts');

  // One ORDER BY candidate: asked [Y/n]; "n" plans nothing.
  await p.exec('DROP TABLE app.tgt_mv', 'DROP TABLE app.src', SRC.replace('ORDER BY u', 'ORDER BY (ts, u)'),
    'CREATE MATERIALIZED VIEW app.tgt_mv TO app.tgt AS SELECT ts, u FROM app.src WHERE u > 0');
  configure();
  const no = onTty(['plan', '--target', 'app.tgt', ...window], 'n\n');
  assert.equal(no.status, 2, no.stdout);
  assert.match(no.stdout, /Use ts as the time column of app\.src\? \[Y\/n\]/);
  assert.match(no.stdout, /no time column chosen for app\.src/);
  assert.deepEqual(p.stateFiles(), []);
  // Without a terminal (--json), the single ORDER BY candidate is used and reported.
  const auto = p.cli(['plan', '--target', 'app.tgt', ...window]);
  assert.equal(auto.code, 0, auto.stdout);
  assert.deepEqual(auto.json.timeColumns, [{ table: 'app.src', column: 'ts', origin: 'detected' }]);
});

test('a target that feeds other views: the plan warns that they fire too', async () => {
  await resetDb();
  await p.exec(
    'CREATE TABLE app.downstream (u UInt64, n UInt64) ENGINE = SummingMergeTree ORDER BY u',
    'CREATE MATERIALIZED VIEW app.downstream_mv TO app.downstream AS SELECT u, count() AS n FROM app.tgt GROUP BY u',
  );
  configure();
  const r = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts']);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.json.warnings.join('\n'), /inserts into app\.tgt also fire the materialized view\(s\) app\.downstream_mv/);
});

test('a refreshable view into the target is refused: it is not fed by inserts', async () => {
  await resetDb({ serverView: false });
  await p.exec('CREATE MATERIALIZED VIEW app.tgt_refresh REFRESH EVERY 1 DAY TO app.tgt AS SELECT ts, u FROM app.src');
  configure();
  const r = p.cli(['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts']);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.json.error, /materialized view app\.tgt_refresh is refreshable/);
  assert.deepEqual(p.stateFiles(), []);
});

test('a replayed query goes into the INSERT bare, filtered in place; a plan an earlier version wrote wrapped is kept by a re-plan, runs exact and verifies', async () => {
  await resetDb();
  configure();
  const args = ['plan', '--target', 'app.tgt', ...window, '--time-column', 'ts', '--chunk-hours', '6'];
  const planned = p.cli(args);
  assert.equal(planned.code, 0, planned.stdout);
  const file = planned.json.planPath;
  const fresh = fs.readFileSync(file, 'utf8');
  const sql = JSON.parse(fresh).chunks[0].statements[0].sql;
  const predicate = /`ts` >= toDateTime\('[^']+', 'UTC'\) AND `ts` < toDateTime\('[^']+', 'UTC'\)/;
  // The view's query is the INSERT's SELECT (its select list names the target's columns in its
  // own order), the window in its WHERE, before the view's own condition.
  assert.deepEqual(sql.split('\n').slice(1, 3), ['INSERT INTO `app`.`tgt` (`ts`, `u`)', `SELECT ts, u FROM app.src WHERE ${sql.match(predicate)[0]} AND (u > 0)`]);

  // As the earlier version wrote it: `SELECT cols FROM (<the view's query>)`, the source read
  // through a subquery, and the digest of that text.
  const legacy0 = fresh
    .replaceAll('INSERT INTO `app`.`tgt` (`ts`, `u`)\\n', 'INSERT INTO `app`.`tgt` (`ts`, `u`)\\nSELECT `ts`, `u`\\nFROM (\\n')
    .replace(new RegExp(`FROM app\\.src WHERE (${predicate.source}) AND \\(u > 0\\)`, 'g'), 'FROM (SELECT `ts`, `created_at`, `u`, `note` FROM `app`.`src` WHERE $1) AS `src` WHERE u > 0')
    .replaceAll('\\nSETTINGS ', '\\n)\\nSETTINGS ');
  const wrapped = JSON.parse(legacy0).chunks[0].statements[0].sql;
  assert.match(wrapped, /\nSELECT `ts`, `u`\nFROM \(\nSELECT ts, u FROM \(SELECT `ts`, `created_at`, `u`, `note` FROM `app`.`src` WHERE `ts` >= .*\) AS `src` WHERE u > 0\n\)\nSETTINGS /);
  const middle = wrapped.slice(wrapped.indexOf('*/') + 2, wrapped.lastIndexOf('SETTINGS '));
  const digest = crypto.createHash('sha256').update(middle.split(wrapped.match(predicate)[0]).join('\0')).digest('hex');
  const legacy = legacy0.replace(JSON.parse(fresh).sqlDigests[0].sha256, digest);
  assert.notEqual(legacy, legacy0, 'the digest is rewritten');
  fs.writeFileSync(file, legacy);

  const again = p.cli(args);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.json.existed, true, again.stdout);
  assert.equal(fs.readFileSync(file, 'utf8'), legacy, 'the plan stays as it was');
  const live = await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u');
  await p.exec('TRUNCATE TABLE app.tgt');
  const r = p.cli(['run', '--plan-id', planned.json.planId]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(await p.rows('SELECT ts, u FROM app.tgt ORDER BY ts, u'), live, 'the wrapped statements replay the live view');
  const v = p.cli(['verify', '--plan-id', planned.json.planId]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(v.json.ok, true, v.stdout);
});
