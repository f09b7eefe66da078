// What `plan` learns before the core decides: the tables involved (columns,
// ORDER BY, the schema's time column) and the materialized views that write
// into the target, from the schema files and, when a connection is
// configured, from the server (so a view created outside chkit is found too).
import type { ClickHouse } from './clickhouse.js';
import { distributedEngine, viewSource, type TableRef } from '../core/core.js';
import { describeTables, tableColumns, tableRow, targetTable } from './schema_info.js';
import { schemaColumnType, type Schema, type TableDefinition } from './schema.js';

export interface TableInfo {
  database: string;
  table: string;
  columns: { name: string; type: string; defaultKind: string }[];
  orderBy: string[];
  timeColumn?: string;
}

export interface ViewInput {
  database: string;
  name: string;
  schemaQuery?: string;
  serverQuery?: string;
  outputColumns?: string[];
  createQuery?: string;
}

export interface PlanInputs {
  tables: TableInfo[];
  views: ViewInput[];
  /** Views that read from the target (`db.view`), from the server. */
  targetDependents: string[];
}

const key = (database: string, name: string) => `${database}\u0000${name}`;

function schemaTable(schema: Schema, t: TableRef): TableDefinition | undefined {
  return schema.tables.find((d) => d.database === t.database && d.name === t.table);
}

function fromSchema(def: TableDefinition): TableInfo {
  return {
    database: def.database,
    table: def.name,
    columns: (def.columns ?? []).map((c) => ({ name: c.name, type: schemaColumnType(c), defaultKind: c.default === undefined ? '' : 'DEFAULT' })),
    orderBy: def.orderBy ?? [],
    timeColumn: def.plugins?.backfill?.timeColumn,
  };
}

async function fromServer(ch: ClickHouse, t: TableRef): Promise<TableInfo | undefined> {
  const cols = await tableColumns(ch, t.database, t.table);
  if (!cols) return undefined;
  const row = await tableRow(ch, t.database, t.table);
  return {
    database: t.database,
    table: t.table,
    columns: cols.map((c) => ({ name: c.name, type: c.type, defaultKind: c.defaultKind })),
    orderBy: row?.sortingKey ? [row.sortingKey] : [],
  };
}

/** Views whose TO table is `target`, as the server has them (their columns: see `gatherPlanInputs`). */
async function serverViews(ch: ClickHouse, target: TableRef): Promise<ViewInput[]> {
  const rows = await ch.query<{ database: string; name: string; as_select: string; create_table_query: string }>(
    `SELECT database, name, as_select, create_table_query FROM system.tables
     WHERE engine = 'MaterializedView' AND target_database = {db:String} AND target_table = {t:String}
     ORDER BY database, name`,
    { params: { db: target.database, t: target.table } },
  );
  return rows.map((r) => ({ database: r.database, name: r.name, serverQuery: r.as_select, createQuery: r.create_table_query }));
}

/**
 * Tables and views for a plan of `target` (and `source` for a copy). The
 * server's columns are the truth; the schema adds `plugins.backfill.timeColumn`.
 * From a server: three queries whatever the number of views (the views, then the
 * columns and rows of every table involved at once).
 */
export async function gatherPlanInputs(schema: Schema, ch: ClickHouse | undefined, target: TableRef, source?: TableRef): Promise<PlanInputs> {
  const views = new Map<string, ViewInput>();
  // A copy (--source) replays no view: do not even read them.
  for (const mv of source ? [] : schema.materializedViews) {
    if (mv.to?.database === target.database && mv.to?.name === target.table) {
      views.set(key(mv.database, mv.name), { database: mv.database, name: mv.name, schemaQuery: mv.as });
    }
  }
  if (ch && !source) {
    for (const v of await serverViews(ch, target)) {
      const k = key(v.database, v.name);
      views.set(k, { ...views.get(k), ...v });
    }
  }
  const wanted: TableRef[] = [target];
  if (source) wanted.push(source);
  for (const v of views.values()) {
    const query = v.serverQuery ?? v.schemaQuery ?? '';
    wanted.push(viewSource(`${v.database}.${v.name}`, query, v.database));
  }
  const serverViewRefs = [...views.values()].filter((v) => v.serverQuery !== undefined).map((v) => ({ database: v.database, table: v.name }));
  if (ch) await describeTables(ch, [...wanted, ...serverViewRefs]);
  for (const v of views.values()) {
    if (ch && v.serverQuery !== undefined) v.outputColumns = (await tableColumns(ch, v.database, v.name))?.map((c) => c.name);
  }
  const tables: TableInfo[] = [];
  for (const t of wanted) {
    if (tables.some((i) => i.database === t.database && i.table === t.table)) continue;
    const def = schemaTable(schema, t);
    const server = ch ? await fromServer(ch, t) : undefined;
    const info = server ? { ...server, timeColumn: def?.plugins?.backfill?.timeColumn } : def ? fromSchema(def) : undefined;
    if (info) tables.push(info);
  }
  const dependents = ch ? (await targetTable(ch, target.database, target.table))?.dependentViews : undefined;
  return { tables, views: [...views.values()], targetDependents: dependents ?? [] };
}

export interface DistributedInput {
  engineFull: string;
  shards: { shardNum: number; replicas: number; internalReplication: boolean }[];
  remoteEngine?: string;
}

/** When `target` is a Distributed table: its definition, its cluster's shards, and the remote table's engine here. */
export async function distributedInput(ch: ClickHouse, target: TableRef): Promise<DistributedInput | undefined> {
  const t = await tableRow(ch, target.database, target.table);
  if (t?.engine !== 'Distributed') return undefined;
  const d = distributedEngine(`${target.database}.${target.table}`, t.engineFull);
  const shards = await ch.query<{ shard_num: number; replicas: string | number; internal_replication: number }>(
    `SELECT shard_num, count() AS replicas, max(internal_replication) AS internal_replication
     FROM system.clusters WHERE cluster = {c:String} GROUP BY shard_num ORDER BY shard_num`,
    { params: { c: d.cluster } },
  );
  const remote = await tableRow(ch, d.remoteDatabase, d.remoteTable);
  return {
    engineFull: t.engineFull,
    shards: shards.map((s) => ({ shardNum: Number(s.shard_num), replicas: Number(s.replicas), internalReplication: Number(s.internal_replication) === 1 })),
    remoteEngine: remote?.engine,
  };
}

/** The server's settings (name and type), to check the user's INSERT settings against. */
export async function serverSettings(ch: ClickHouse): Promise<{ name: string; type: string }[]> {
  return ch.query<{ name: string; type: string }>('SELECT name, type FROM system.settings');
}
