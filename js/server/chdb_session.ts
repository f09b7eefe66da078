// A @clickhouse/client Connection over chdb's Session, for an embedded engine
// started with a ClickHouse config file (`chdb:./db?config=./engine.xml`).
// chdb's own createChdbConnection cannot pass engine arguments; Session can
// (`connectionArgs`). Only what the client calls here is implemented.
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

interface ChdbResult {
  bytes(): Uint8Array;
  rowsRead?: number;
  bytesRead?: number;
  elapsed?: number;
}
interface ChdbSession {
  queryAsync(sql: string, opts: { format?: string; signal?: AbortSignal }): Promise<ChdbResult>;
  queryBindAsync(sql: string, params: Record<string, unknown>, opts: { format?: string; signal?: AbortSignal }): Promise<ChdbResult>;
  close(): void;
}
type SessionCtor = new (path: string, opts: { connectionArgs: string[] }) => ChdbSession;

interface Params {
  query: string;
  clickhouse_settings?: Record<string, unknown>;
  query_params?: Record<string, unknown>;
  abort_signal?: AbortSignal;
  query_id?: string;
  values?: unknown;
}

// Settings the HTTP layer knows and the engine does not (the client sends some by default).
const HTTP_ONLY = new Set(['wait_end_of_query', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'enable_http_compression']);

function withSettings(sql: string, settings: Record<string, unknown> | undefined): { sql: string; format?: string } {
  const sets: string[] = [];
  let format: string | undefined;
  for (const [k, v] of Object.entries(settings ?? {})) {
    if (v === undefined || HTTP_ONLY.has(k)) continue;
    if (k === 'default_format') {
      format = String(v);
      continue;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${JSON.stringify(k)}`);
    const lit = typeof v === 'number' ? String(v) : typeof v === 'boolean' ? (v ? '1' : '0') : `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    sets.push(`SET ${k} = ${lit}`);
  }
  return { sql: sets.length ? `${sets.join('; ')}; ${sql}` : sql, format };
}

function readable(b: Uint8Array): Readable {
  const r = Readable.from([Buffer.from(b.buffer, b.byteOffset, b.byteLength)]);
  // The client destroys an unread result on close: nothing to report then.
  r.on('error', () => undefined);
  return r;
}

const summary = (r: ChdbResult) => ({
  read_rows: String(r.rowsRead ?? 0),
  read_bytes: String(r.bytesRead ?? 0),
  written_rows: '0',
  written_bytes: '0',
  result_rows: String(r.rowsRead ?? 0),
  result_bytes: String(r.bytesRead ?? 0),
  total_rows_to_read: '0',
  elapsed_ns: String(Math.round((r.elapsed ?? 0) * 1e9)),
});

/** A connection to the embedded engine at `dataDir`, started with `configFile`. */
export function createConfiguredChdbConnection(dataDir: string, configFile: string): unknown {
  const require = createRequire(import.meta.url);
  const { Session } = require('chdb') as { Session: SessionCtor };
  const { parseError } = require('@clickhouse/client-common') as { parseError: (m: string) => Error };
  const session = new Session(dataDir, { connectionArgs: [`--config-file=${configFile}`] });
  let closed = false;
  const run = async (p: Params, format: string) => {
    if (closed) throw new Error('connection closed');
    const s = withSettings(p.query, p.clickhouse_settings);
    const opts = { format: s.format ?? format, signal: p.abort_signal };
    try {
      return p.query_params && Object.keys(p.query_params).length > 0
        ? await session.queryBindAsync(s.sql, p.query_params, opts)
        : await session.queryAsync(s.sql, opts);
    } catch (err) {
      // The engine's `Code: N. DB::Exception: … (TYPE)` becomes the client's ClickHouseError.
      throw parseError(err instanceof Error ? err.message.replace(/^Query failed: /, '') : String(err));
    }
  };
  const base = (p: Params) => ({ query_id: p.query_id ?? randomUUID(), response_headers: {}, http_status_code: 200 });
  return {
    connectionName: 'chdb',
    async query(p: Params) {
      const r = await run(p, 'JSONEachRow');
      return { stream: readable(r.bytes()), ...base(p) };
    },
    async exec(p: Params) {
      const r = await run(p, 'CSV');
      return { stream: readable(r.bytes()), ...base(p), summary: summary(r) };
    },
    async command(p: Params) {
      const r = await run(p, 'CSV');
      return { ...base(p), summary: summary(r) };
    },
    async insert(): Promise<never> {
      throw new Error('insert with a values stream is not used by this plugin');
    },
    async ping() {
      try {
        await session.queryAsync('SELECT 1', { format: 'CSV' });
        return { success: true };
      } catch (error) {
        return { success: false, error };
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      session.close();
    },
  };
}
