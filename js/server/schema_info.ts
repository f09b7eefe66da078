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

const columnsKey = (database: string, table: string) => `columns\0${database}\0${table}`;
const rowKey = (database: string, table: string) => `table\0${database}\0${table}`;

type ColumnRow = { database: string; table: string; name: string; type: string; default_kind: string };
type SystemTableRow = { database: string; name: string; engine: string; engine_full: string; sorting_key: string; create_table_query: string; dep_db: string[]; dep_table: string[] };

const COLUMNS = 'SELECT database, table, name, type, default_kind FROM system.columns';
const TABLES = `SELECT database, name, engine, engine_full, sorting_key, create_table_query, dependencies_database AS dep_db, dependencies_table AS dep_table
       FROM system.tables`;

const toColumns = (rows: ColumnRow[]) => (rows.length === 0 ? undefined : rows.map((r) => ({ name: r.name, type: r.type, defaultKind: r.default_kind })));
const toRow = (r: SystemTableRow | undefined): TableRow | undefined =>
  r && {
    engine: r.engine,
    engineFull: r.engine_full,
    sortingKey: r.sorting_key,
    createTableQuery: r.create_table_query,
    dependents: r.dep_table.map((t, i) => `${r.dep_db[i]}.${t}`),
  };

/**
 * Columns and `system.tables` rows of several tables in two queries, remembered for the
 * connection: what `tableColumns` and `tableRow` then answer without asking again (a
 * plan reads three or more tables; each question is a round trip to the server).
 */
export async function describeTables(ch: ClickHouse, tables: readonly { database: string; table: string }[]): Promise<void> {
  const m = memo.get(ch) ?? new Map<string, Promise<unknown>>();
  memo.set(ch, m);
  const wanted = tables.filter((t, i) => tables.findIndex((u) => u.database === t.database && u.table === t.table) === i);
  const unknown = (key: (d: string, t: string) => string) => wanted.filter((t) => !m.has(key(t.database, t.table)));
  const params = (ts: typeof wanted) => ({ dbs: ts.map((t) => t.database), ts: ts.map((t) => t.table) });
  // `database IN … AND table IN …` lets the server read only those tables' metadata; the pairs are matched here.
  const cols = unknown(columnsKey);
  const rows = unknown(rowKey);
  const [colRows, tableRows] = await Promise.all([
    cols.length === 0
      ? []
      : ch.query<ColumnRow>(`${COLUMNS} WHERE database IN {dbs:Array(String)} AND table IN {ts:Array(String)} ORDER BY database, table, position`, { params: params(cols) }),
    rows.length === 0 ? [] : ch.query<SystemTableRow>(`${TABLES} WHERE database IN {dbs:Array(String)} AND name IN {ts:Array(String)}`, { params: params(rows) }),
  ]);
  for (const t of cols) {
    if (!m.has(columnsKey(t.database, t.table))) m.set(columnsKey(t.database, t.table), Promise.resolve(toColumns(colRows.filter((r) => r.database === t.database && r.table === t.table))));
  }
  for (const t of rows) {
    if (!m.has(rowKey(t.database, t.table))) m.set(rowKey(t.database, t.table), Promise.resolve(toRow(tableRows.find((r) => r.database === t.database && r.name === t.table))));
  }
}

export function tableColumns(ch: ClickHouse, database: string, table: string): Promise<readonly ColumnInfo[] | undefined> {
  return once(ch, columnsKey(database, table), async () =>
    toColumns(await ch.query<ColumnRow>(`${COLUMNS} WHERE database = {db:String} AND table = {t:String} ORDER BY position`, { params: { db: database, t: table } })),
  );
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
  return once(ch, rowKey(database, table), async () => {
    const [r] = await ch.query<SystemTableRow>(`${TABLES} WHERE database = {db:String} AND name = {t:String}`, { params: { db: database, t: table } });
    return toRow(r);
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
