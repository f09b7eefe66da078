// The only module that knows how to reach ClickHouse: HTTP(S) through
// @clickhouse/client, or the embedded engine (chdb) for `chdb:<path>` URLs.
// Everything else asks for exec/query and gets ClickHouseFailure back.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { usageError } from '../core/errors.js';
import { createConfiguredChdbConnection } from './chdb_session.js';
import { redactCredentials } from '../core/core.js';

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

/** What the server said about a finished statement. */
export interface ExecSummary {
  /** Rows written per the server's summary; undefined when the server does not report it (chdb). */
  writtenRows?: number;
}

export interface ClickHouse {
  readonly environment: EnvironmentIdentity;
  readonly embedded: boolean;
  /**
   * The engine's counters (system.events) move for this process's statements alone: the embedded
   * engine started without a configuration file, so no system log flushes rows into tables.
   */
  readonly ownCounters: boolean;
  /** Run a statement that returns no rows. */
  exec(sql: string, opts?: ExecOptions): Promise<ExecSummary>;
  /** Run a SELECT and return its rows (JSONEachRow). */
  query<T = Record<string, unknown>>(sql: string, opts?: ExecOptions): Promise<T[]>;
  /**
   * `exec(sql)`, then the SELECT `readSql` right after it → its rows. On the embedded engine
   * one call runs both (an engine call costs about a millisecond, a chunk's whole overhead
   * was three); elsewhere two. Fails as `exec` does when `sql` fails (then `readSql` does not run).
   */
  execThenQuery<T = Record<string, unknown>>(sql: string, readSql: string, opts?: ExecOptions): Promise<T[]>;
  /** Kill a running query by id and wait until the server no longer lists it (no error if it is already gone). */
  kill(queryId: string): Promise<void>;
  /** Whether the server still lists a query with this id. */
  running(queryId: string): Promise<boolean>;
  /** Rows read and written so far by those of these statements the server is running. */
  progress(queryIds: string[]): Promise<{ readRows: number; writtenRows: number }>;
  close(): Promise<void>;
}

const CHDB_PREFIX = 'chdb:';

export function isEmbeddedUrl(url: string): boolean {
  return url.startsWith(CHDB_PREFIX);
}

function embeddedPath(url: string, configDir: string): string {
  return embeddedTarget(url, configDir).dir;
}

/**
 * `chdb:<dir>[?config=<file>]`, both relative to the config file's directory. The engine
 * config (a ClickHouse server config: clusters, profiles, ports) is not part of the
 * environment's identity: the data directory is.
 */
export function embeddedTarget(url: string, configDir: string): { dir: string; configFile?: string } {
  const rest = url.slice(CHDB_PREFIX.length);
  const q = rest.indexOf('?');
  const p = (q < 0 ? rest : rest.slice(0, q)).replace(/^\/\/(?=\/)/, '');
  if (!p) throw usageError('invalid_clickhouse_url', `clickhouse.url '${url}' names no directory (chdb:<path>)`);
  const dir = path.resolve(configDir, p);
  if (q < 0) return { dir };
  const params = new URLSearchParams(rest.slice(q + 1));
  const unknown = [...params.keys()].filter((k) => k !== 'config');
  if (unknown.length) throw usageError('invalid_clickhouse_url', `clickhouse.url '${url}': unknown parameter ${unknown.join(', ')} (only config=<engine config file>)`);
  const config = params.get('config');
  if (!config) throw usageError('invalid_clickhouse_url', `clickhouse.url '${url}': config= names no file`);
  const configFile = path.resolve(configDir, config);
  if (!fs.existsSync(configFile)) throw usageError('invalid_clickhouse_url', `clickhouse.url '${url}': engine config file ${configFile} does not exist`);
  return { dir, configFile };
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

function failureOf(err: unknown, signal?: AbortSignal): ClickHouseFailure {
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

/**
 * Cuts the configured user names and passwords (the fields, and a URL's `user:pass@`) out of
 * text (src/redact.rs): a server names the user in its authentication, grant and quota
 * errors, and those messages reach the event log, the run snapshot and the terminal.
 */
export function credentialRedactor(settings: ClickHouseSettings): (text: string) => string {
  const users = new Set<string>();
  const passwords = new Set<string>();
  if (settings.username) users.add(settings.username);
  if (settings.password) passwords.add(settings.password);
  if (!isEmbeddedUrl(settings.url)) {
    try {
      const u = new URL(settings.url);
      for (const [raw, into] of [[u.username, users], [u.password, passwords]] as const) {
        if (!raw) continue;
        into.add(raw);
        try {
          into.add(decodeURIComponent(raw));
        } catch {
          // Not valid percent-encoding: the form as written is enough.
        }
      }
    } catch {
      // Not a URL: environmentOf refuses it before anything connects.
    }
  }
  const credentials = { users: [...users], passwords: [...passwords] };
  return (text) => redactCredentials(text, credentials);
}

/** ACCESS_DENIED (497) says which grant a step needs; other failures pass unchanged. */
export function needsGrant(f: ClickHouseFailure, what: string): ClickHouseFailure {
  if (f.code !== 497) return f;
  return new ClickHouseFailure(`${what}: ${f.message}`, f.code, f.type, f.origin);
}

/** The one line users see for a failed statement. */
export function describeFailure(f: ClickHouseFailure): string {
  if (f.origin === 'server') return `ClickHouse error ${f.code}${f.type ? ` ${f.type}` : ''}: ${f.message}`;
  if (f.origin === 'network') return `cannot reach ClickHouse: ${f.message}`;
  return `query cancelled: ${f.message}`;
}

/** The engine ignores client query ids (chdb makes its own), so every
 *  statement starts with a comment naming ours: kill and lookups match on it. */
export function markQuery(sql: string, queryId: string | undefined): string {
  return queryId ? `/* chkit-backfill qid=${queryId} */\n${sql}` : sql;
}

const QUERY_ID = /^[A-Za-z0-9_-]+$/;

interface StatementParams {
  query: string;
  query_id?: string;
  clickhouse_settings?: Record<string, string | number | boolean | undefined>;
  query_params?: Record<string, unknown>;
  abort_signal?: AbortSignal;
}

/** What the statements below ask of a client: @clickhouse/client's (HTTP), or the embedded engine's connection. */
interface Client {
  query(p: StatementParams & { format: 'JSONEachRow' }): Promise<{ json<T>(): Promise<T[]> }>;
  command(p: StatementParams): Promise<{ summary?: { written_rows?: string } }>;
  close(): Promise<void>;
}

/** The Connection chdb (or chdb_session.ts) implements for @clickhouse/client. */
interface EngineConnection {
  query(p: StatementParams): Promise<{ stream: Readable }>;
  command(p: StatementParams): Promise<{ summary?: { written_rows?: string } }>;
  close(): Promise<void>;
}

/** A statement as @clickhouse/client sends it: trimmed, without trailing semicolons. */
const statement = (sql: string) => sql.trim().replace(/;+$/, '');

/**
 * The embedded engine's connection as a client, sending it what @clickhouse/client would
 * (`FORMAT JSONEachRow` after a query, rows parsed line by line) without loading the HTTP
 * client, which an embedded run never uses.
 */
function embeddedClient(conn: EngineConnection): Client {
  return {
    async query(p) {
      const { format, ...rest } = p;
      const { stream } = await conn.query({ ...rest, query: `${statement(p.query)} \nFORMAT ${format}` });
      const parts: Buffer[] = [];
      for await (const chunk of stream) parts.push(chunk as Buffer);
      const text = Buffer.concat(parts).toString('utf8');
      return { json: async <T>() => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T) };
    },
    command: (p) => conn.command({ ...p, query: statement(p.query) }),
    close: () => conn.close(),
  };
}

/** A small pool: chdb runs one statement at a time per connection, so
 *  parallel chunks each need their own; kill uses a connection of its own. */
class Pool {
  private idle: Client[];
  private waiters: ((c: Client) => void)[] = [];
  constructor(
    readonly all: Client[],
    /** Run on a connection whose statement failed, before it is reused. */
    private readonly afterError?: (c: Client) => Promise<unknown>,
  ) {
    this.idle = [...all];
  }
  async use<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const c = this.idle.pop() ?? (await new Promise<Client>((r) => this.waiters.push(r)));
    try {
      return await fn(c);
    } catch (err) {
      await this.afterError?.(c).catch(() => undefined);
      throw err;
    } finally {
      const w = this.waiters.shift();
      if (w) w(c);
      else this.idle.push(c);
    }
  }
}

export interface ConnectOptions {
  /** Statements that may run at once (maxParallelChunks). */
  parallel?: number;
}

export async function connect(settings: ClickHouseSettings, configDir: string, copts: ConnectOptions = {}): Promise<ClickHouse> {
  const environment = environmentOf(settings, configDir);
  const redact = credentialRedactor(settings);
  // Every failure leaves here without the credentials in its text.
  const toFailure = (err: unknown, signal?: AbortSignal) => {
    const f = failureOf(err, signal);
    return new ClickHouseFailure(redact(f.message), f.code, f.type, f.origin);
  };
  const embedded = isEmbeddedUrl(settings.url);
  let client: Client;
  let pool: Pool;
  let ownCounters = false;
  if (embedded) {
    const { dir, configFile } = embeddedTarget(settings.url, configDir);
    ownCounters = !configFile;
    let createChdbConnection: (o: { path: string }) => EngineConnection;
    try {
      // chdb is an optional peer dependency: only embedded URLs need it.
      const require = createRequire(import.meta.url);
      ({ createChdbConnection } = require('chdb/connection'));
    } catch {
      throw usageError('chdb_missing', `clickhouse.url '${settings.url}' needs the embedded engine: npm install chdb`);
    }
    const open = () => embeddedClient(configFile ? (createConfiguredChdbConnection(dir, configFile) as EngineConnection) : createChdbConnection({ path: dir }));
    client = open();
    // chdb lists a killed statement in system.processes until its connection runs
    // the next one: run a trivial one so "killed" also means "no longer listed".
    pool = new Pool(Array.from({ length: Math.max(1, copts.parallel ?? 1) + 1 }, open), (c) =>
      c.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((r) => r.json()),
    );
  } else {
    // Loaded here only: commands that never connect, and embedded runs, never load the HTTP client.
    const { ClickHouseLogLevel, createClient } = await import('@clickhouse/client');
    const http = createClient({
      url: settings.url,
      username: settings.username ?? 'default',
      password: settings.password ?? '',
      database: environment.database,
      request_timeout: 3_600_000,
      // Progress headers keep a long INSERT's connection alive through load balancers.
      clickhouse_settings: { wait_end_of_query: 1, send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '30000' },
      // We report failures ourselves, once, with the cause.
      log: { level: ClickHouseLogLevel.OFF },
      max_open_connections: Math.max(2, (copts.parallel ?? 1) + 1),
    });
    client = http;
    pool = new Pool([client]);
    // One HTTP client multiplexes; the pool of one must not serialise it.
    pool.use = (fn) => fn(client);
  }
  // Literal SQL only: on chdb, parameterised statements are serialised process-wide.
  // Our own statements only: under row policies a user sees (and may kill) no other user's, and
  // a KILL must never reach another user's query that happens to match.
  const ours = (queryId: string) =>
    `user = currentUser() AND ${embedded ? `startsWith(query, '/* chkit-backfill qid=${queryId} */')` : `query_id = '${queryId}'`}`;
  const listed = (queryId: string) => `SELECT count() AS c FROM system.processes WHERE ${ours(queryId)}`;
  const control = (sql: string) => client.query({ query: sql, format: 'JSONEachRow' }).then((r) => r.json<{ c: string | number }>());
  const rowsOf = async <T>(sql: string, opts: ExecOptions, abort: AbortSignal | undefined) => {
    try {
      return await pool.use(async (c) => {
        const rs = await c.query({
          query: markQuery(sql, opts.queryId),
          format: 'JSONEachRow',
          query_id: opts.queryId,
          clickhouse_settings: opts.settings,
          query_params: opts.params,
          abort_signal: abort,
        });
        return (await rs.json()) as T[];
      });
    } catch (err) {
      throw toFailure(err, opts.signal);
    }
  };
  const ch: ClickHouse = {
    environment,
    embedded,
    ownCounters,
    async exec(sql, opts = {}) {
      try {
        const r = await pool.use((c) =>
          c.command({
            query: markQuery(sql, opts.queryId),
            query_id: opts.queryId,
            clickhouse_settings: opts.settings,
            query_params: opts.params,
            // chdb cannot interrupt a statement from the client: an abort would only stop
            // waiting while the INSERT goes on. There, KILL QUERY (kill) ends it.
            abort_signal: embedded ? undefined : opts.signal,
          }),
        );
        const written = Number((r as { summary?: { written_rows?: string } }).summary?.written_rows);
        return { writtenRows: !embedded && Number.isFinite(written) ? written : undefined };
      } catch (err) {
        throw toFailure(err, opts.signal);
      }
    },
    async execThenQuery<T>(sql: string, readSql: string, opts: ExecOptions = {}) {
      if (!embedded) {
        await ch.exec(sql, opts);
        return ch.query<T>(readSql);
      }
      // The engine runs the statements in turn and answers with the last one's rows; as for
      // `exec`, no abort is passed (chdb cannot interrupt a statement: KILL QUERY ends it).
      return rowsOf<T>(`${statement(sql)};\n${readSql}`, opts, undefined);
    },
    query: <T>(sql: string, opts: ExecOptions = {}) => rowsOf<T>(sql, opts, opts.signal),
    async running(queryId) {
      if (!QUERY_ID.test(queryId)) throw new Error(`not a query id: ${queryId}`);
      try {
        return Number((await control(listed(queryId)))[0]?.c ?? 0) > 0;
      } catch (err) {
        throw needsGrant(toFailure(err), 'reading system.processes needs SELECT on system.processes (or SHOW PROCESSLIST)');
      }
    },
    async progress(queryIds) {
      if (queryIds.length === 0) return { readRows: 0, writtenRows: 0 };
      for (const q of queryIds) if (!QUERY_ID.test(q)) throw new Error(`not a query id: ${q}`);
      const sql = `SELECT sum(read_rows) AS r, sum(written_rows) AS w FROM system.processes WHERE ${queryIds.map((q) => `(${ours(q)})`).join(' OR ')}`;
      try {
        const [row] = await client.query({ query: sql, format: 'JSONEachRow' }).then((r) => r.json<{ r: string | number; w: string | number }>());
        return { readRows: Number(row?.r ?? 0), writtenRows: Number(row?.w ?? 0) };
      } catch (err) {
        throw toFailure(err);
      }
    },
    async kill(queryId) {
      if (!QUERY_ID.test(queryId)) throw new Error(`not a query id: ${queryId}`);
      // ASYNC, then poll: KILL ... SYNC never returns on the embedded engine.
      try {
        await client.command({ query: `KILL QUERY WHERE ${ours(queryId)} ASYNC` });
        for (let i = 0; i < 600 && (await ch.running(queryId)); i++) await new Promise((r) => setTimeout(r, 50));
      } catch (err) {
        throw needsGrant(toFailure(err), 'stopping a statement of an earlier attempt needs the KILL QUERY grant');
      }
      if (await ch.running(queryId)) throw new ClickHouseFailure(`query ${queryId} is still running 30 s after KILL QUERY`, undefined, undefined, 'server');
    },
    async close() {
      await Promise.all(pool.all.filter((c) => c !== client).map((c) => c.close()));
      await client.close();
    },
  };
  return ch;
}
