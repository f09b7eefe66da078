// The only module that knows how to reach ClickHouse: HTTP(S) through
// @clickhouse/client, or the embedded engine (chdb) for `chdb:<path>` URLs.
// Everything else asks for exec/query and gets ClickHouseFailure back.
import path from 'node:path';
import { createRequire } from 'node:module';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { usageError } from './errors.js';

export interface ClickHouseSettings {
  url: string;
  username?: string;
  password?: string;
  database?: string;
  secure?: boolean;
}

/** Where a plan runs: what the environment fingerprint is made of. Never credentials. */
export interface EnvironmentIdentity {
  origin: string;
  database: string;
}

export interface ExecOptions {
  queryId?: string;
  settings?: Record<string, string | number>;
  /** Bound server-side as {name:Type} placeholders: values never enter the SQL text. */
  params?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** A failed statement, with the server's numeric code and name when it answered. */
export class ClickHouseFailure extends Error {
  constructor(
    message: string,
    /** Server error code (e.g. 62 SYNTAX_ERROR); undefined when no server answered. */
    readonly code: number | undefined,
    readonly type: string | undefined,
    /** 'server': the server answered with an error; 'network': it could not be reached; 'aborted': we cancelled it. */
    readonly origin: 'server' | 'network' | 'aborted',
  ) {
    super(message);
    this.name = 'ClickHouseFailure';
  }
}

export interface ClickHouse {
  readonly environment: EnvironmentIdentity;
  readonly embedded: boolean;
  /** Run a statement that returns no rows. */
  exec(sql: string, opts?: ExecOptions): Promise<void>;
  /** Run a SELECT and return its rows (JSONEachRow). */
  query<T = Record<string, unknown>>(sql: string, opts?: ExecOptions): Promise<T[]>;
  /** Kill a running query by id (no error if it is already gone). */
  kill(queryId: string): Promise<void>;
  close(): Promise<void>;
}

const CHDB_PREFIX = 'chdb:';

export function isEmbeddedUrl(url: string): boolean {
  return url.startsWith(CHDB_PREFIX);
}

function embeddedPath(url: string, configDir: string): string {
  const p = url.slice(CHDB_PREFIX.length).replace(/^\/\/(?=\/)/, '');
  if (!p) throw usageError('invalid_clickhouse_url', `clickhouse.url '${url}' names no directory (chdb:<path>)`);
  return path.resolve(configDir, p);
}

/** The identity of the configured environment, computed without connecting. */
export function environmentOf(settings: ClickHouseSettings, configDir: string): EnvironmentIdentity {
  const database = settings.database || 'default';
  if (isEmbeddedUrl(settings.url)) return { origin: `${CHDB_PREFIX}${embeddedPath(settings.url, configDir)}`, database };
  let u: URL;
  try {
    u = new URL(settings.url);
  } catch {
    throw usageError('invalid_clickhouse_url', `clickhouse.url is not a URL (expected http(s)://host:port or chdb:<path>)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usageError('invalid_clickhouse_url', `clickhouse.url must use http, https or chdb, not ${u.protocol}`);
  }
  // origin drops user:password@ and any path, so it is safe to store.
  return { origin: u.origin, database };
}

function toFailure(err: unknown, signal?: AbortSignal): ClickHouseFailure {
  if (err instanceof ClickHouseFailure) return err;
  const e = err as { message?: string; code?: string | number; type?: string; name?: string };
  const message = String(e?.message ?? err).trim();
  if (signal?.aborted || e?.name === 'AbortError') return new ClickHouseFailure(message, undefined, undefined, 'aborted');
  // Old servers answer in a format the client does not parse; the code still leads the text.
  const code =
    e?.code !== undefined && /^\d+$/.test(String(e.code))
      ? Number(e.code)
      : /^Code: (\d+)[.,]/.test(message)
        ? Number(/^Code: (\d+)/.exec(message)![1])
        : undefined;
  if (code !== undefined) return new ClickHouseFailure(message, code, e.type, 'server');
  return new ClickHouseFailure(message, undefined, typeof e?.code === 'string' ? e.code : undefined, 'network');
}

/** The one line users see for a failed statement. */
export function describeFailure(f: ClickHouseFailure): string {
  if (f.origin === 'server') return `ClickHouse error ${f.code}${f.type ? ` ${f.type}` : ''}: ${f.message}`;
  if (f.origin === 'network') return `cannot reach ClickHouse: ${f.message}`;
  return `query cancelled: ${f.message}`;
}

export async function connect(settings: ClickHouseSettings, configDir: string): Promise<ClickHouse> {
  const environment = environmentOf(settings, configDir);
  const embedded = isEmbeddedUrl(settings.url);
  let client: ClickHouseClient;
  if (embedded) {
    const dir = embeddedPath(settings.url, configDir);
    let createChdbConnection: (o: { path: string }) => unknown;
    try {
      // chdb is an optional peer dependency: only embedded URLs need it.
      const require = createRequire(import.meta.url);
      ({ createChdbConnection } = require('chdb/connection'));
    } catch {
      throw usageError('chdb_missing', `clickhouse.url '${settings.url}' needs the embedded engine: npm install chdb`);
    }
    client = createClient({
      connection: createChdbConnection({ path: dir }) as never,
      database: environment.database,
      log: { level: ClickHouseLogLevel.OFF },
    } as never);
  } else {
    client = createClient({
      url: settings.url,
      username: settings.username ?? 'default',
      password: settings.password ?? '',
      database: environment.database,
      request_timeout: 3_600_000,
      // Progress headers keep a long INSERT's connection alive through load balancers.
      clickhouse_settings: { wait_end_of_query: 1, send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '30000' },
      // We report failures ourselves, once, with the cause.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }
  return {
    environment,
    embedded,
    async exec(sql, opts = {}) {
      try {
        await client.command({
          query: sql,
          query_id: opts.queryId,
          clickhouse_settings: opts.settings as never,
          query_params: opts.params,
          abort_signal: opts.signal,
        });
      } catch (err) {
        throw toFailure(err, opts.signal);
      }
    },
    async query<T>(sql: string, opts: ExecOptions = {}) {
      try {
        const rs = await client.query({
          query: sql,
          format: 'JSONEachRow',
          query_id: opts.queryId,
          clickhouse_settings: opts.settings as never,
          query_params: opts.params,
          abort_signal: opts.signal,
        });
        return (await rs.json()) as T[];
      } catch (err) {
        throw toFailure(err, opts.signal);
      }
    },
    async kill(queryId) {
      try {
        await client.command({ query: 'KILL QUERY WHERE query_id = {qid:String} SYNC', query_params: { qid: queryId } });
      } catch (err) {
        throw toFailure(err);
      }
    },
    async close() {
      await client.close();
    },
  };
}
