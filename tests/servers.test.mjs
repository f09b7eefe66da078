// Production-server behaviour on the embedded engine started with a ClickHouse
// config file (`chdb:./data?config=./engine.xml`): a `remote_servers` cluster
// whose one replica is this engine (is_local = 1), a Distributed table over a
// local MergeTree, per-chunk settings, and the doctor's cluster report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { createProject } from './helpers/project.mjs';
import { createConfiguredChdbConnection } from '../dist/server/chdb_session.js';

const ENGINE_XML = `<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers>
    <local>
      <shard><replica><host>localhost</host><port>9000</port></replica></shard>
    </local>
  </remote_servers>
</clickhouse>
`;

function clusterProject(t, options = {}) {
  const p = createProject({
    files: { 'engine.xml': ENGINE_XML },
    configText: `import { backfill } from '@chkit/plugin-backfill';
export default {
  clickhouse: { url: 'chdb:./data?config=./engine.xml', database: 'app' },
  plugins: [backfill(${JSON.stringify({ defaults: { timeColumn: 'ts', chunkHours: 6, retryDelayMs: 0, ...options.defaults }, ...options.rest })})],
};
`,
  });
  t.after(p.cleanup);
  // The test process opens the same engine with the same config (the Distributed table needs its cluster).
  const withDb = async (fn) => {
    const client = createClient({ connection: createConfiguredChdbConnection(p.dataDir, path.join(p.dir, 'engine.xml')) });
    try {
      return await fn({
        exec: (query) => client.command({ query }),
        rows: async (query) => (await client.query({ query, format: 'JSONEachRow' })).json(),
      });
    } finally {
      await client.close();
    }
  };
  const exec = (...qs) => withDb(async (db) => { for (const q of qs) await db.exec(q); });
  const rows = (q) => withDb((db) => db.rows(q));
  return { ...p, exec, rows };
}

/** app.src: 48 hours from 2025-01-01, 60 rows an hour; app.local and app.dist (Distributed over it). */
async function seed(p) {
  await p.exec(
    'CREATE DATABASE IF NOT EXISTS app',
    'CREATE TABLE app.src (ts DateTime, v UInt32) ENGINE = MergeTree ORDER BY ts',
    "INSERT INTO app.src SELECT toDateTime('2025-01-01 00:00:00', 'UTC') + number * 60, number FROM numbers(2880)",
    'CREATE TABLE app.local (ts DateTime, v UInt32) ENGINE = MergeTree ORDER BY ts',
    'CREATE TABLE app.dist AS app.local ENGINE = Distributed(local, app, local, rand())',
  );
}

const chunksOf = (p, planId) => p.cli(['status', '--plan-id', planId, '--chunks']).json.chunks;

/** Rows of app.local per chunk window, and what waits in the distribution queue. */
async function landed(p, chunks) {
  const counts = [];
  for (const c of chunks) {
    const [r] = await p.rows(
      `SELECT count() AS c FROM app.local WHERE ts >= parseDateTimeBestEffort('${c.from}') AND ts < parseDateTimeBestEffort('${c.to}')`,
    );
    counts.push(Number(r.c));
  }
  const [q] = await p.rows("SELECT count() AS files FROM system.distribution_queue WHERE database = 'app' AND table = 'dist' AND data_files > 0");
  return { counts, queued: Number(q.files) };
}

test('the engine config is applied: the cluster is local, the environment is the data directory', async (t) => {
  const p = clusterProject(t);
  const [c] = await p.rows("SELECT shard_num, is_local FROM system.clusters WHERE cluster = 'local'");
  assert.deepEqual([Number(c.shard_num), Number(c.is_local)], [1, 1]);
  await seed(p);
  const r = p.cli(['plan', '--target', 'app.dist', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const plan = JSON.parse(fs.readFileSync(r.json.planPath, 'utf8'));
  assert.equal(plan.environment.url, `chdb:${p.dataDir}`, 'the config file is not part of the environment');
  // A config file that is not there, or a parameter the URL does not take: exit 2, nothing written.
  for (const [url, re] of [
    ['chdb:./data?config=./nope.xml', /engine config file .*nope\.xml does not exist/],
    ['chdb:./data?cfg=./engine.xml', /unknown parameter cfg/],
  ]) {
    const q = createProject({ files: { 'engine.xml': ENGINE_XML }, configText: `export default { clickhouse: { url: '${url}', database: 'app' }, plugins: [(await import('@chkit/plugin-backfill')).backfill({})] };\n` });
    t.after(q.cleanup);
    const bad = q.cli(['plan', '--target', 'app.dist', '--from', '2025-01-01', '--to', '2025-01-02']);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.json.error, re);
    assert.deepEqual(q.stateFiles(), []);
  }
});

test('a Distributed target: recorded in the plan, every chunk INSERT foreground, every row on its shard when the chunk is done', async (t) => {
  const p = clusterProject(t);
  await seed(p);
  const r = p.cli(['plan', '--target', 'app.dist', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-03']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.json.distributed, { cluster: 'local', remoteDatabase: 'app', remoteTable: 'local', shardingKey: 'rand()', shards: 1, remoteEngine: 'MergeTree' });
  const dry = p.cli(['plan', '--target', 'app.dist', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-03', '--dry-run']);
  assert.match(dry.json.firstChunkSql[0], /distributed_foreground_insert=1, enable_parallel_replicas=0, max_parallel_replicas=1/);
  const run = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(run.json.chunkCounts.done, 8);
  const chunks = chunksOf(p, r.json.planId);
  const { counts, queued } = await landed(p, chunks);
  assert.deepEqual(counts, chunks.map(() => 360), 'each 6-hour window holds its 360 rows in the local table');
  assert.deepEqual(chunks.map((c) => c.rowsWritten), counts);
  assert.equal(queued, 0);
});

test('rows routed through the network (prefer_localhost_replica = 0) never leave a chunk done while they wait in the distribution queue', async (t) => {
  // mv_replay counts no window: the INSERT returning is all that marks a chunk done, so a
  // background insert into a Distributed target would be done with its rows still queued.
  const p = clusterProject(t);
  await seed(p);
  await p.exec('CREATE MATERIALIZED VIEW app.mv TO app.dist AS SELECT ts, v FROM app.src');
  const r = p.cli(['plan', '--target', 'app.dist', '--from', '2025-01-01', '--to', '2025-01-02', '--setting', 'prefer_localhost_replica=0']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.strategy, 'mv_replay');
  assert.deepEqual(r.json.insertSettings, { prefer_localhost_replica: false });
  const run = p.cli(['run', '--plan-id', r.json.planId]);
  const chunks = chunksOf(p, r.json.planId);
  const { counts, queued } = await landed(p, chunks);
  for (const [i, c] of chunks.entries()) {
    if (c.status === 'done') assert.equal(counts[i], 360, `chunk ${i + 1} is done: its rows must be in app.local, not queued`);
  }
  assert.equal(queued, 0, 'no backfilled rows wait in system.distribution_queue');
  // Nothing listens on the embedded engine's TCP port: the foreground insert reports the cause.
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.json.lastError.message, /Connection refused|All connection tries failed/);
  // doctor names the cluster and its shard.
  const doc = p.cli(['doctor', '--plan-id', r.json.planId]);
  const dist = doc.json.issues.find((i) => i.code === 'distributed_target');
  assert.match(dist.message, /cluster local into app\.local \(1 shard\(s\): 1: localhost:9000\)/);
});

test('doctor reports rows waiting in the target\'s distribution queue', async (t) => {
  const p = clusterProject(t);
  await seed(p);
  const r = p.cli(['plan', '--target', 'app.dist', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // Someone else's background insert: queued, on no shard.
  await p.exec("INSERT INTO app.dist SELECT toDateTime('2025-03-01 00:00:00', 'UTC') + number, number FROM numbers(10) SETTINGS prefer_localhost_replica = 0");
  const doc = p.cli(['doctor', '--plan-id', r.json.planId]);
  assert.equal(doc.code, 0, doc.stdout + doc.stderr);
  const q = doc.json.issues.find((i) => i.code === 'distribution_queue');
  assert.ok(q, JSON.stringify(doc.json.issues));
  assert.match(q.message, /1 file\(s\) of rows inserted into app\.dist/);
  assert.equal(q.sql, 'SYSTEM FLUSH DISTRIBUTED app.dist');
});

test('a Distributed target whose shards ignore tokens: the doctor\'s SQL names the table rows land in, and following it makes retries deduplicate', async (t) => {
  const p = clusterProject(t);
  await seed(p);
  const r = p.cli(['plan', '--target', 'app.dist', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const doc = p.cli(['doctor', '--plan-id', r.json.planId]);
  const fix = doc.json.issues.find((i) => i.code === 'tokens_ignored');
  assert.ok(fix, JSON.stringify(doc.json.issues));
  assert.equal(fix.sql, 'ALTER TABLE `app`.`local` MODIFY SETTING non_replicated_deduplication_window = 1000');
  assert.match(fix.message, /on every shard of cluster local: rows land in app\.local/);
  // Followed on the cluster's one shard: the doctor has nothing more to say about tokens.
  await p.exec(fix.sql);
  const again = p.cli(['doctor', '--plan-id', r.json.planId]);
  assert.equal(again.json.issues.find((i) => i.code === 'tokens_ignored'), undefined, JSON.stringify(again.json.issues));
  const run = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const { counts } = await landed(p, chunksOf(p, r.json.planId));
  assert.deepEqual(counts, [360, 360, 360, 360]);
  // The same chunk's INSERT sent again with its token is now dropped by app.local.
  const first = JSON.parse(fs.readFileSync(r.json.planPath, 'utf8').split('\n')[1].replace(/,$/, '')).sqlTemplate;
  await p.exec(first);
  assert.deepEqual((await landed(p, chunksOf(p, r.json.planId))).counts, [360, 360, 360, 360]);
});

test('--setting and insertSettings reach every chunk INSERT; pinned, unknown and mistyped settings are refused with exit 2', async (t) => {
  const p = clusterProject(t, { rest: { insertSettings: { max_insert_threads: 2, log_comment: 'backfill' } } });
  await seed(p);
  // A view reading from the target records the setting its INSERT ran with.
  await p.exec(
    'CREATE TABLE app.dst (ts DateTime, v UInt32) ENGINE = MergeTree ORDER BY ts',
    'CREATE TABLE app.audit (threads UInt64, comment String, n UInt64) ENGINE = MergeTree ORDER BY threads',
    "CREATE MATERIALIZED VIEW app.audit_mv TO app.audit AS SELECT getSetting('max_insert_threads') AS threads, getSetting('log_comment') AS comment, count() AS n FROM app.dst",
  );
  const args = ['plan', '--target', 'app.dst', '--source', 'app.src', '--from', '2025-01-01', '--to', '2025-01-02'];
  for (const [setting, re] of [
    ['insert_deduplicate=0', /insert_deduplicate cannot be set: the backfill pins it/],
    ['distributed_foreground_insert=0', /distributed_foreground_insert cannot be set/],
    ['max_insert_thread=3', /unknown setting max_insert_thread: the connected server has no such setting/],
    ['max_insert_threads=three', /setting max_insert_threads = 'three': the server's type is UInt64/],
  ]) {
    const bad = p.cli([...args, '--setting', setting]);
    assert.equal(bad.code, 2, setting + ': ' + bad.stdout + bad.stderr);
    assert.match(bad.json.error, re);
    assert.deepEqual(p.stateFiles(), [], 'nothing written');
  }
  // The host splits a flag's value on commas: a value with commas still arrives whole.
  const r = p.cli([...args, '--setting', 'max_insert_threads=3', '--setting', 'log_comment=backfill,run 2']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.json.insertSettings, { log_comment: 'backfill,run 2', max_insert_threads: 3 }, 'the flag over the option');
  const run = p.cli(['run', '--plan-id', r.json.planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const audit = await p.rows('SELECT threads, comment, sum(n) AS n FROM app.audit GROUP BY threads, comment');
  assert.deepEqual(audit.map((a) => [Number(a.threads), a.comment, Number(a.n)]), [[3, 'backfill,run 2', 1440]]);
});

test('a pinned setting in the options is refused with exit 2 before anything is read', async (t) => {
  const p = clusterProject(t, { rest: { insertSettings: { async_insert: 1, enable_parallel_replicas: 1 } } });
  const r = p.cli(['plan', '--target', 'app.dist', '--from', '2025-01-01', '--to', '2025-01-02']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.json.error, /async_insert, enable_parallel_replicas cannot be set/);
  assert.deepEqual(p.stateFiles(), []);
});
