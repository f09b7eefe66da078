// What every command shares: the chkit context, flag access, the SDK session,
// and one place that turns results and errors into output and exit codes.
import { debugStack, usageError, type ExitCode } from '../core/errors.js';
import type { ResolvedConfig } from '../sdk/config.js';
import { classify } from '../sdk/errors.js';
import { Session } from '../sdk/session.js';

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
  json: object;
  text: string[];
}

/** A command's view of chkit's context: its flags, and the session the SDK works in. */
export class Cx {
  readonly session: Session;

  constructor(readonly ctx: CommandContext, readonly command: string) {
    this.session = new Session({
      configPath: ctx.configPath,
      config: ctx.config,
      options: ctx.options,
      programName: (ctx as { hostName?: string }).hostName ?? 'chkit plugin backfill',
    });
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
        const e = classify(err, cx?.session.paths.root);
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
export const planIdFlag: FlagDef = { name: '--plan-id', type: 'string', description: 'Plan id (see list)', placeholder: '<id>' };
