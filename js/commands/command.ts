// What every command shares: the chkit context, flag access, resolved options,
// the state directory, the connection, and one place that turns results and
// errors into output and exit codes.
import path from 'node:path';
import { resolveOptions, type ResolvedOptions } from '../core/core.js';
import { BackfillError, debugStack, fsError, oneLine, usageError, type ExitCode } from '../core/errors.js';
import { ClickHouseFailure, connect, describeFailure, environmentOf, type ClickHouse, type ConnectOptions, type EnvironmentIdentity } from '../server/clickhouse.js';
import type { ResolvedConfig } from '../cli/config.js';
import { statePaths, type StatePaths } from '../engine/store.js';

export type FlagValue = string | string[] | boolean | undefined;

export interface FlagDef {
  name: `--${string}`;
  type: 'boolean' | 'string' | 'string[]';
  description: string;
  placeholder?: string;
  negation?: boolean;
}

/** The context chkit passes to a command's `run`. */
export interface CommandContext {
  args: string[];
  flags: Record<string, FlagValue>;
  jsonMode: boolean;
  options: Record<string, unknown>;
  config: ResolvedConfig;
  configPath: string;
  print(value: unknown): void;
  pluginName?: string;
  tableScope?: unknown;
}

export interface PluginCommand {
  name: string;
  description: string;
  flags?: FlagDef[];
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** What a command hands back: the JSON payload, the lines for humans, the exit code. */
export interface CommandResult {
  exitCode?: ExitCode;
  json: Record<string, unknown>;
  text: string[];
}

export class Cx {
  readonly options: ResolvedOptions;
  readonly configDir: string;
  readonly paths: StatePaths;

  constructor(readonly ctx: CommandContext, readonly command: string) {
    this.options = resolveOptions(ctx.options ?? {});
    this.configDir = path.dirname(path.resolve(ctx.configPath));
    this.paths = statePaths(resolveStateDir(ctx.config, this.configDir, this.options));
  }

  get jsonMode(): boolean {
    return this.ctx.jsonMode;
  }

  string(name: `--${string}`): string | undefined {
    const v = this.ctx.flags[name];
    if (v === undefined || v === false) return undefined;
    if (typeof v !== 'string') throw usageError('invalid_flag', `${name} takes a value`);
    return v;
  }

  /** A repeatable flag's values (none when absent). */
  strings(name: `--${string}`): string[] {
    const v = this.ctx.flags[name];
    if (v === undefined || v === false) return [];
    if (Array.isArray(v)) return v;
    if (typeof v === 'string') return [v];
    throw usageError('invalid_flag', `${name} takes a value`);
  }

  bool(name: `--${string}`): boolean {
    return this.ctx.flags[name] === true;
  }

  /** The configured environment's identity, or undefined with no connection configured. */
  environment(): EnvironmentIdentity | undefined {
    const ch = this.ctx.config.clickhouse;
    return ch?.url ? environmentOf(ch, this.configDir) : undefined;
  }

  /** Connect, or exit 2 saying how to configure a connection. */
  async connect(opts: ConnectOptions = {}): Promise<ClickHouse> {
    const ch = this.ctx.config.clickhouse;
    if (!ch?.url) {
      throw usageError(
        'no_connection',
        `${this.command} needs a ClickHouse connection: set clickhouse: { url: 'http://localhost:8123' } ` +
          `(or url: 'chdb:./data' for the embedded engine) in ${path.basename(this.ctx.configPath)}`,
      );
    }
    return connect(ch, this.configDir, opts);
  }

  now(): string {
    return new Date().toISOString();
  }
}

/** Against the config's directory: the real chkit hands over metaDir as written (relative), meant for its cwd. */
export function resolveStateDir(config: ResolvedConfig, configDir: string, options: ResolvedOptions): string {
  return path.resolve(configDir, options.stateDir ?? path.join(config.metaDir, 'backfill'));
}

/**
 * Declared on every command although hosts treat it as global: the real chkit parses a
 * command's flags (and rejects unknown ones) only when the command declares some.
 */
export const jsonFlag: FlagDef = { name: '--json', type: 'boolean', description: 'Print one JSON document' };

/** Wrap a command body: options are validated first, errors never escape as throws. */
export function defineCommand(
  name: string,
  description: string,
  flags: FlagDef[],
  body: (cx: Cx) => Promise<CommandResult>,
): PluginCommand {
  return {
    name,
    description,
    flags: [...flags, jsonFlag],
    async run(ctx) {
      let result: CommandResult;
      let cx: Cx | undefined;
      try {
        cx = new Cx(ctx, name);
        result = await body(cx);
      } catch (err) {
        debugStack(err);
        const e = classify(err, cx?.paths.root);
        result = {
          exitCode: e.exitCode,
          json: { ok: false, command: name, error: e.message, code: e.code },
          text: [`backfill ${name}: ${e.message}`],
        };
      }
      if (ctx.jsonMode) ctx.print(result.json);
      else for (const line of result.text) ctx.print(line);
      return result.exitCode ?? 0;
    },
  };
}

/** Any error as the failure users see: one code, one message (exit 1 unless it says otherwise). */
export function classify(err: unknown, stateRoot?: string): BackfillError {
  if (err instanceof BackfillError) return err;
  if (err instanceof ClickHouseFailure) return new BackfillError(1, 'clickhouse_error', describeFailure(err), err);
  // A write through a descriptor names no file: say at least which state directory.
  const io = fsError(err, (err as NodeJS.ErrnoException)?.path ? undefined : stateRoot);
  if (io) return io;
  return new BackfillError(1, 'internal', oneLine(String((err as Error)?.message ?? err)), err);
}

export const planIdFlag: FlagDef = { name: '--plan-id', type: 'string', description: 'Plan id (see list)', placeholder: '<id>' };
