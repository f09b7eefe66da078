// What the server knows about tables: columns and their kinds. Used by plan
// to name the INSERT's columns instead of relying on `*`.
import type { ClickHouse } from './clickhouse.js';
import { usageError } from '../core/errors.js';

export interface ColumnInfo {
  name: string;
  type: string;
  /** '' | 'DEFAULT' | 'MATERIALIZED' | 'ALIAS' | 'EPHEMERAL' */
  defaultKind: string;
}

// A command asks about a table several times (plan: the target's columns for the views and
// for the copy, its engine, its sorting key): each is read from the server once per
// connection, which lives as long as the command. A failed read is not kept.
const memo = new WeakMap<ClickHouse, Map<string, Promise<unknown>>>();

function once<T>(ch: ClickHouse, key: string, read: () => Promise<T>): Promise<T> {
  let m = memo.get(ch);
  if (!m) memo.set(ch, (m = new Map()));
  let p = m.get(key) as Promise<T> | undefined;
  if (!p) {
    const mine = read();
    m.set(key, mine);
    mine.catch(() => m!.get(key) === mine && m!.delete(key));
    p = mine;
  }
  return p;
}

export function tableColumns(ch: ClickHouse, database: string, table: string): Promise<readonly ColumnInfo[] | undefined> {
  return once(ch, `columns\0${database}\0${table}`, async () => {
    const rows = await ch.query<{ name: string; type: string; default_kind: string }>(
      'SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
      { params: { db: database, t: table } },
    );
    if (rows.length === 0) return undefined;
    return rows.map((r) => ({ name: r.name, type: r.type, defaultKind: r.default_kind }));
  });
}

/** A table's row of `system.tables`, as the commands read it; undefined when it does not exist. */
export interface TableRow {
  engine: string;
  engineFull: string;
  sortingKey: string;
  createTableQuery: string;
  /** Materialized views that read from the table (`db.view`). */
  dependents: string[];
}

export function tableRow(ch: ClickHouse, database: string, table: string): Promise<TableRow | undefined> {
  return once(ch, `table\0${database}\0${table}`, async () => {
    const [r] = await ch.query<{ engine: string; engine_full: string; sorting_key: string; create_table_query: string; dep_db: string[]; dep_table: string[] }>(
      `SELECT engine, engine_full, sorting_key, create_table_query, dependencies_database AS dep_db, dependencies_table AS dep_table
       FROM system.tables WHERE database = {db:String} AND name = {t:String}`,
      { params: { db: database, t: table } },
    );
    if (!r) return undefined;
    return {
      engine: r.engine,
      engineFull: r.engine_full,
      sortingKey: r.sorting_key,
      createTableQuery: r.create_table_query,
      dependents: r.dep_table.map((t, i) => `${r.dep_db[i]}.${t}`),
    };
  });
}

/** Columns an INSERT can write: not computed by the table itself. */
export function insertableColumns(cols: readonly ColumnInfo[]): string[] {
  return cols.filter((c) => !['MATERIALIZED', 'ALIAS', 'EPHEMERAL'].includes(c.defaultKind)).map((c) => c.name);
}

export async function requireTable(ch: ClickHouse, database: string, table: string, flag: string): Promise<readonly ColumnInfo[]> {
  const cols = await tableColumns(ch, database, table);
  if (!cols) throw usageError('table_not_found', `${flag} table ${database}.${table} does not exist on the server`);
  return cols;
}

export interface TargetTable {
  engine: string;
  /** `non_replicated_deduplication_window` as declared on the table (0 when unset). */
  dedupWindow: number;
  /** Materialized views that read from the table (`db.view`): every insert into it feeds them. */
  dependentViews: string[];
}

/** Engine and deduplication window of a table, or undefined when it does not exist. */
export async function targetTable(ch: ClickHouse, database: string, table: string): Promise<TargetTable | undefined> {
  const r = await tableRow(ch, database, table);
  if (!r) return undefined;
  const m = /non_replicated_deduplication_window\s*=\s*(\d+)/.exec(r.createTableQuery);
  return { engine: r.engine, dedupWindow: m ? Number(m[1]) : 0, dependentViews: r.dependents };
}

/** Replicated (or Shared) engines deduplicate through Keeper, not a local log. */
export function replicated(t: TargetTable): boolean {
  return t.engine.startsWith('Replicated') || t.engine.startsWith('Shared');
}

/** Whether the table honours insert_deduplication_token. */
export function deduplicates(t: TargetTable): boolean {
  return replicated(t) || t.dedupWindow > 0;
}
