// What every operation works with: the resolved options, the state directory,
// the configured environment and how to connect to it. Built from a config
// (the SDK's callers) or from chkit's command context (the commands); nothing
// here knows about flags or printing.
import path from 'node:path';
import { resolveOptions, type ResolvedOptions } from '../core/core.js';
import { usageError } from '../core/errors.js';
import { connect, environmentOf, type ClickHouse, type ConnectOptions, type EnvironmentIdentity } from '../server/clickhouse.js';
import { statePaths, type StatePaths } from '../engine/store.js';
import type { ResolvedConfig } from './config.js';

/** What an operation needs to know of the project. */
export interface BackfillConfig {
  /** The project's clickhouse.config.ts: relative paths resolve against its directory. */
  configPath: string;
  /** chkit's config: `clickhouse`, `metaDir`, `schema` (relative paths allowed). */
  config: Pick<ResolvedConfig, 'clickhouse' | 'metaDir' | 'schema'> & Partial<ResolvedConfig>;
  /** The options given to `backfill({...})`, as written. */
  options?: Record<string, unknown>;
  /** The command line that runs this plugin, named in advice (`chkit-backfill`, `chkit plugin backfill`). */
  programName?: string;
}

export class Session {
  readonly options: ResolvedOptions;
  readonly rawOptions: Record<string, unknown>;
  readonly configDir: string;
  readonly paths: StatePaths;
  readonly programName: string;

  /** Options are validated here: a bad one is exit 2 before anything is read. */
  constructor(readonly cfg: BackfillConfig) {
    this.rawOptions = cfg.options ?? {};
    this.options = resolveOptions(this.rawOptions);
    this.configDir = path.dirname(path.resolve(cfg.configPath));
    this.paths = statePaths(resolveStateDir(cfg.config, this.configDir, this.options));
    this.programName = cfg.programName ?? 'chkit-backfill';
  }

  get config(): BackfillConfig['config'] {
    return this.cfg.config;
  }

  get configPath(): string {
    return this.cfg.configPath;
  }

  /** The database unqualified table names belong to. */
  get defaultDatabase(): string {
    return this.cfg.config.clickhouse?.database || 'default';
  }

  /** The configured environment's identity, or undefined with no connection configured. */
  environment(): EnvironmentIdentity | undefined {
    const ch = this.cfg.config.clickhouse;
    return ch?.url ? environmentOf(ch, this.configDir) : undefined;
  }

  /** Connect, or exit 2 saying how to configure a connection. */
  async connect(operation: string, opts: ConnectOptions = {}): Promise<ClickHouse> {
    const ch = this.cfg.config.clickhouse;
    if (!ch?.url) {
      throw usageError(
        'no_connection',
        `${operation} needs a ClickHouse connection: set clickhouse: { url: 'http://localhost:8123' } ` +
          `(or url: 'chdb:./data' for the embedded engine) in ${path.basename(this.cfg.configPath)}`,
      );
    }
    return connect(ch, this.configDir, opts);
  }

  now(): string {
    return new Date().toISOString();
  }
}

/** Against the config's directory: the real chkit hands over metaDir as written (relative), meant for its cwd. */
export function resolveStateDir(config: Pick<ResolvedConfig, 'metaDir'>, configDir: string, options: ResolvedOptions): string {
  return path.resolve(configDir, options.stateDir ?? path.join(config.metaDir, 'backfill'));
}

/** A session from a config or a session already made. */
export const sessionOf = (c: BackfillConfig | Session): Session => (c instanceof Session ? c : new Session(c));
