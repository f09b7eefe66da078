// `npm run demo`: an embedded ClickHouse with a month of events, a table
// backfill and a materialized-view replay, run through the real CLI.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = path.join(root, 'examples', 'quickstart');
const dataDir = path.join(project, '.chkit-data');
const bin = path.join(root, 'dist', 'cli', 'bin.js');
const ROWS = 1_200_000;
const FROM = '2025-01-01';
const TO = '2025-01-31';

const step = (s) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);

/** Open the embedded engine, run fn, close it: the CLI needs the data directory to itself. */
async function db(fn) {
  const client = createClient({ connection: createChdbConnection({ path: dataDir }) });
  try {
    return await fn({
      exec: (query) => client.command({ query }),
      rows: async (query) => (await client.query({ query, format: 'JSONEachRow' })).json(),
    });
  } finally {
    await client.close();
  }
}

function cli(...args) {
  console.log(`$ chkit-backfill ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: project, encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`chkit-backfill ${args[0]} exited ${r.status}`);
  return r.stdout;
}

const planIdOf = (out) => /(?:Planned|Plan already exists) ([0-9a-f]{16})/.exec(out)?.[1];

step('Fresh embedded database in examples/quickstart/.chkit-data');
fs.rmSync(dataDir, { recursive: true, force: true });
fs.rmSync(path.join(project, 'chkit'), { recursive: true, force: true });
const t0 = Date.now();
await db(async (d) => {
  await d.exec('CREATE DATABASE app');
  await d.exec(`CREATE TABLE app.events (event_time DateTime, user_id UInt64, kind LowCardinality(String), amount Decimal(12, 2))
    ENGINE = MergeTree ORDER BY (event_time, user_id) SETTINGS non_replicated_deduplication_window = 1000`);
  await d.exec(`INSERT INTO app.events
    SELECT toDateTime('${FROM} 00:00:00', 'UTC') + intDiv(number * 2592000, ${ROWS}) AS event_time,
           cityHash64(number) % 50000 AS user_id,
           ['view', 'view', 'view', 'click', 'click', 'cart', 'buy'][number % 7 + 1] AS kind,
           if(kind = 'buy', toDecimal64((cityHash64(number, 1) % 20000) / 100, 2), toDecimal64(0, 2)) AS amount
    FROM numbers(${ROWS})`);
  const [c] = await d.rows('SELECT count() AS n, min(event_time) AS lo, max(event_time) AS hi FROM app.events');
  console.log(`app.events: ${c.n} rows from ${c.lo} to ${c.hi} (seeded in ${Date.now() - t0} ms)`);
});

step('Table backfill: re-insert the first week of app.events, chunk by chunk');
const weekTo = '2025-01-08';
const countWeek = () =>
  db(async (d) => (await d.rows(`SELECT count() AS n FROM app.events WHERE event_time >= '${FROM}' AND event_time < '${weekTo}'`))[0].n);
const before = await countWeek();
const tablePlan = planIdOf(cli('plan', '--target', 'app.events', '--from', FROM, '--to', weekTo));
cli('run', '--plan-id', tablePlan);
cli('status', '--plan-id', tablePlan);
const after = await countWeek();
console.log(`rows in the window: before ${before}, after ${after} (the table strategy re-inserts each row once: ${after === 2 * before ? 'exactly 2x' : 'NOT 2x!'})`);

step('Materialized view created after the fact: app.events_hourly is empty');
await db(async (d) => {
  await d.exec(`CREATE TABLE app.events_hourly (hour DateTime, kind LowCardinality(String), events UInt64, revenue Decimal(38, 2))
    ENGINE = SummingMergeTree ORDER BY (hour, kind) SETTINGS non_replicated_deduplication_window = 1000`);
  await d.exec(`CREATE MATERIALIZED VIEW app.events_hourly_mv TO app.events_hourly AS
    SELECT toStartOfHour(event_time) AS hour, kind, count() AS events, sum(amount) AS revenue
    FROM app.events GROUP BY hour, kind`);
  const [h] = await d.rows('SELECT count() AS n FROM app.events_hourly');
  console.log(`app.events_hourly: ${h.n} rows before the replay`);
});

step('MV replay: replay the view over the month into its TO table');
const mvPlan = planIdOf(cli('plan', '--target', 'app.events_hourly', '--from', FROM, '--to', TO, '--chunk-hours', '6'));
cli('run', '--plan-id', mvPlan);
cli('status', '--plan-id', mvPlan);
await db(async (d) => {
  const [h] = await d.rows(`SELECT count() AS n, sum(events) AS events, sum(revenue) AS revenue FROM app.events_hourly FINAL`);
  const [e] = await d.rows(
    `SELECT count() AS events, sum(amount) AS revenue FROM app.events WHERE event_time >= '${FROM}' AND event_time < '${TO}'`,
  );
  console.log(`app.events_hourly after: ${h.n} hourly rows, ${h.events} events, revenue ${h.revenue}`);
  console.log(`app.events in the window: ${e.events} events, revenue ${e.revenue} → ${String(h.events) === String(e.events) && String(h.revenue) === String(e.revenue) ? 'match' : 'MISMATCH'}`);
});

step(`Done in ${((Date.now() - t0) / 1000).toFixed(1)} s. Try: cd examples/quickstart && node ../../dist/cli/bin.js status --plan-id ${mvPlan}`);
