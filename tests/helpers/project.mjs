// Test harness: a throw-away chkit project on disk with the embedded engine,
// the real `chkit-backfill` bin run as a child process, and SQL access to the
// same data directory from the test process (closed again before the bin runs:
// chdb allows one process per data directory).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'dist', 'cli', 'bin.js');

/**
 * @param {object} o
 * @param {object} [o.options]   backfill({...}) options (JSON-serialisable)
 * @param {boolean} [o.connection=true]  configure `clickhouse: { url: 'chdb:./data' }`
 * @param {string} [o.database='app']
 * @param {Record<string,string>} [o.files]  extra files (e.g. schema.ts)
 * @param {string[]} [o.schema]  config.schema globs
 * @param {string} [o.configText]  replace the generated config entirely
 */
export function createProject(o = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-backfill-test-'));
  const database = o.database ?? 'app';
  const connection = o.connection ?? true;
  const config =
    o.configText ??
    `import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';
export default defineConfig({
  schema: ${JSON.stringify(o.schema ?? [])},
  ${connection ? `clickhouse: { url: 'chdb:./data', database: ${JSON.stringify(database)} },` : ''}
  plugins: [backfill(${JSON.stringify(o.options ?? {})})],
});
`;
  fs.writeFileSync(path.join(dir, 'clickhouse.config.ts'), config);
  for (const [name, text] of Object.entries(o.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  const dataDir = path.join(dir, 'data');
  const stateDir = path.join(dir, 'chkit', 'meta', 'backfill');

  /** Run the bin to completion. Adds --json unless `text: true`. */
  function cli(args, { text = false, env = {}, timeoutMs = 300_000, cwd = dir } = {}) {
    const argv = text ? args : [...args, '--json'];
    const r = spawnSync(process.execPath, [BIN, ...argv], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: timeoutMs,
    });
    let json;
    if (!text) {
      try {
        json = JSON.parse(r.stdout);
      } catch {
        json = undefined;
      }
    }
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, json };
  }

  /** Start the bin without waiting (for kill/cancel/lock tests). */
  function spawnCli(args, { env = {} } = {}) {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdoutText = '';
    child.stderrText = '';
    child.stdout.on('data', (d) => (child.stdoutText += d));
    child.stderr.on('data', (d) => (child.stderrText += d));
    child.done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    return child;
  }

  /** Open the embedded engine in this process, run `fn(client)`, close it again. */
  async function withDb(fn) {
    const client = createClient({ connection: createChdbConnection({ path: dataDir }) });
    try {
      return await fn({
        exec: (query, settings) => client.command({ query, clickhouse_settings: settings }),
        rows: async (query) => (await client.query({ query, format: 'JSONEachRow' })).json(),
      });
    } finally {
      await client.close();
    }
  }

  /** Convenience: rows of one query. */
  const rows = (query) => withDb((db) => db.rows(query));
  /** Convenience: several statements in order. */
  const exec = (...queries) =>
    withDb(async (db) => {
      for (const q of queries) await db.exec(q);
    });

  /** Every file under the state directory (relative paths), for "nothing written" checks. */
  function stateFiles() {
    const out = [];
    const walk = (d) => {
      if (!fs.existsSync(d)) return;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out.push(path.relative(stateDir, p));
      }
    };
    walk(stateDir);
    return out.sort();
  }

  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return { dir, dataDir, stateDir, database, cli, spawnCli, withDb, rows, exec, stateFiles, cleanup };
}

/** A MergeTree events table with `rowsPerHour` rows per hour over [from, from+hours). */
export async function seedEvents(project, { table = 'app.events', from = '2025-01-01 00:00:00', hours = 48, rowsPerHour = 60, settings = '' } = {}) {
  const [db] = table.split('.');
  await project.exec(
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${table} (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64)
     ENGINE = MergeTree ORDER BY (event_time, user_id) ${settings}`,
    `INSERT INTO ${table} SELECT toDateTime('${from}', 'UTC') + intDiv(number * 3600, ${rowsPerHour}) AS event_time,
       number % 1000 AS user_id, ['click','view','buy'][number % 3 + 1] AS kind, number / 7 AS value
     FROM numbers(${hours * rowsPerHour})`,
  );
}

/** app.base: one row a minute over 2025-01-01 (720 rows in 12 h, user_id = minute), and an empty app.events of the same columns. */
export const MINUTE_ROWS = [
  'CREATE DATABASE app',
  'CREATE TABLE app.base (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
  "INSERT INTO app.base SELECT toDateTime('2025-01-01', 'UTC') + number * 60, number FROM numbers(720)",
  'CREATE TABLE app.events (event_time DateTime, user_id UInt64) ENGINE = MergeTree ORDER BY event_time',
];

export function sh(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts });
}

/**
 * A copy plan of 15-minute chunks from `app.src` (a view over `app.src_rows`,
 * 40 rows an hour, sleeping `sleepPerRow` seconds per row: slow INSERTs) into
 * `app.events`. For tests that need a run to be in progress.
 */
export async function slowCopyPlan(t, { hours, sleepPerRow, defaults = {}, options = {} }) {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 0.25, ...defaults }, ...options } });
  t.after(p.cleanup);
  await seedEvents(p, { table: 'app.src_rows', hours, rowsPerHour: 40 });
  await p.exec(
    `CREATE VIEW app.src AS SELECT event_time, user_id, kind, value + sleepEachRow(${sleepPerRow}) AS value FROM app.src_rows`,
    'CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY event_time',
  );
  const to = new Date(Date.parse('2025-01-01T00:00:00Z') + hours * 3_600_000).toISOString();
  const planned = p.cli(['plan', '--target', 'app.events', '--source', 'app.src', '--from', '2025-01-01', '--to', to]);
  if (planned.code !== 0) throw new Error(`plan failed: ${planned.stdout}${planned.stderr}`);
  const planId = planned.json.planId;
  return {
    p,
    planId,
    lockFile: path.join(p.stateDir, 'locks', `${planId}.lock`),
    eventFile: path.join(p.stateDir, 'events', `${planId}.ndjson`),
  };
}


