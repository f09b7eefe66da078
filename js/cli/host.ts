// The standalone host behind `chkit-backfill`: loads clickhouse.config.ts,
// resolves it and the plugin registration like chkit, parses flags from the
// command's own definitions, prints like chkit, and returns chkit's exit codes.
import fs from 'node:fs';
import path from 'node:path';
import type { CommandContext, FlagDef, FlagValue, PluginCommand } from '../commands/command.js';
import { loadConfig, type PluginRegistration, type ResolvedConfig } from '../sdk/config.js';
import { importUserModule } from '../server/loader.js';
import { codeCacheSwitch } from '../server/code_cache.js';
import type { BackfillPlugin } from '../commands/plugin.js';
import { wrap } from '../commands/output.js';
import { BackfillError, debugStack, oneLine } from '../core/errors.js';
import { classify } from '../sdk/errors.js';

export const HOST_NAME = 'chkit-backfill';
const CONFIG_NAMES = ['clickhouse.config.ts', 'clickhouse.config.mts', 'clickhouse.config.js', 'clickhouse.config.mjs'];

export interface HostIO {
  out(line: string): void;
  err(line: string): void;
  cwd: string;
}

const defaultIO: HostIO = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  cwd: process.cwd(),
};

// Host refusals are the same typed error the plugin throws: one code and exit code each.
const HostError = BackfillError;
type HostError = BackfillError;

interface GlobalFlags {
  json: boolean;
  help: boolean;
  config?: string;
  table?: string;
  rest: string[];
}

function parseGlobals(argv: string[]): GlobalFlags {
  const g: GlobalFlags = { json: false, help: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') g.json = true;
    else if (a === '-h' || a === '--help') g.help = true;
    else if (a === '--config' || a === '--table') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new HostError(1, 'invalid_flag', `Missing value for ${a}`);
      if (a === '--config') g.config = v;
      else g.table = v;
      i++;
    } else g.rest.push(a);
  }
  return g;
}

/** chkit's flag parser: only declared `--name` tokens are flags. */
export function parseFlags(tokens: string[], defs: FlagDef[]): { flags: Record<string, FlagValue>; args: string[] } {
  const flags: Record<string, FlagValue> = {};
  const args: string[] = [];
  const byName = new Map(defs.map((d) => [d.name as string, d]));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!t.startsWith('--')) {
      args.push(t);
      continue;
    }
    let def = byName.get(t);
    if (!def && t.startsWith('--no-')) {
      const neg = byName.get(`--${t.slice(5)}`);
      if (neg?.negation) {
        flags[neg.name] = false;
        continue;
      }
    }
    if (!def) throw new HostError(1, 'invalid_flag', `Unknown flag: ${t}`);
    if (def.type === 'boolean') {
      flags[def.name] = true;
      continue;
    }
    const v = tokens[i + 1];
    if (v === undefined || v.startsWith('--')) throw new HostError(1, 'invalid_flag', `Missing value for ${t}`);
    i++;
    if (def.type === 'string') flags[def.name] = v;
    else {
      const prev = (flags[def.name] as string[] | undefined) ?? [];
      flags[def.name] = [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
    }
  }
  return { flags, args };
}

function findConfig(cwd: string, explicit?: string): string {
  if (explicit) {
    const p = path.resolve(cwd, explicit);
    if (!fs.existsSync(p)) throw new HostError(2, 'config_not_found', `Config file not found: ${p}`);
    return p;
  }
  for (const name of CONFIG_NAMES) {
    const p = path.join(cwd, name);
    if (fs.existsSync(p)) return p;
  }
  throw new HostError(2, 'config_not_found', `No clickhouse.config.ts in ${cwd} (pass --config <path>)`);
}

interface LoadedPlugin {
  plugin: BackfillPlugin;
  name: string;
  options: Record<string, unknown>;
}

/** Resolve the registrations like chkit, rejecting what chkit rejects. */
export async function loadPlugins(config: ResolvedConfig, configPath: string): Promise<LoadedPlugin[]> {
  const dir = path.dirname(configPath);
  const loaded: LoadedPlugin[] = [];
  for (const reg of config.plugins as PluginRegistration[]) {
    let plugin: unknown;
    let name: string | undefined;
    let enabled = true;
    let options: Record<string, unknown> = {};
    if (typeof reg === 'string' || (reg && typeof reg === 'object' && 'resolve' in reg)) {
      const spec = typeof reg === 'string' ? reg : reg.resolve;
      if (typeof reg !== 'string') {
        name = reg.name;
        enabled = reg.enabled ?? true;
        options = reg.options ?? {};
      }
      let mod: Record<string, unknown>;
      try {
        mod = await importUserModule(spec, dir);
      } catch (err) {
        throw new HostError(2, 'plugin_load_failed', `Failed to load plugin ${spec}: ${oneLine(String((err as Error)?.message ?? err))}`, err);
      }
      plugin = mod.default ?? mod.plugin;
    } else if (reg && typeof reg === 'object' && 'plugin' in reg) {
      plugin = reg.plugin;
      name = reg.name;
      enabled = reg.enabled ?? true;
      options = reg.options ?? {};
    } else {
      throw new HostError(2, 'plugin_invalid', 'Invalid plugin registration in config.plugins');
    }
    if (!enabled) continue;
    const p = plugin as BackfillPlugin;
    if (!p?.manifest || p.manifest.apiVersion !== 1) throw new HostError(2, 'plugin_invalid', `Plugin ${name ?? '?'} has an unsupported apiVersion`);
    if (!p.manifest.name) throw new HostError(2, 'plugin_invalid', 'Plugin manifest has an empty name');
    if (name !== undefined && name !== p.manifest.name) {
      throw new HostError(2, 'plugin_invalid', `Plugin registered as "${name}" but its manifest says "${p.manifest.name}"`);
    }
    if (loaded.some((l) => l.name === p.manifest.name)) throw new HostError(2, 'plugin_invalid', `Plugin "${p.manifest.name}" is registered twice`);
    loaded.push({ plugin: p, name: p.manifest.name, options });
  }
  return loaded;
}

function usage(commands: PluginCommand[] | undefined): string[] {
  const lines = [`Usage: ${HOST_NAME} <command> [flags] [--json] [--config <path>]`, '', 'Commands:'];
  for (const c of commands ?? []) lines.push(...wrap(c.description, 80, `  ${c.name.padEnd(10)} `));
  return lines;
}

function commandHelp(cmd: PluginCommand): string[] {
  const lines = [`Usage: ${HOST_NAME} ${cmd.name} [flags]`, '', ...wrap(cmd.description), ''];
  const flag = (name: string, description: string) => lines.push(...wrap(description, 80, `  ${name.padEnd(26)} `));
  for (const f of (cmd.flags ?? []).filter((f) => f.name !== '--json')) flag(f.type === 'boolean' ? f.name : `${f.name} ${f.placeholder ?? '<value>'}`, f.description);
  flag('--json', 'Print one JSON document');
  flag('--config <path>', 'Config file (default ./clickhouse.config.ts)');
  return lines;
}

/** Run one command line; returns the exit code. */
export async function runHost(argv: string[], io: HostIO = defaultIO): Promise<number> {
  // Every failure below is one answer: a line on stderr, or with --json one document on stdout.
  const fail = (command: string | null, exitCode: 1 | 2, code: string, message: string, json: boolean): number => {
    if (json) io.out(JSON.stringify({ ok: false, command, error: message, code }, null, 2));
    else io.err(message);
    return exitCode;
  };
  let g: GlobalFlags;
  try {
    g = parseGlobals(argv);
  } catch (err) {
    const e = err as HostError;
    return fail(argv.find((a) => !a.startsWith('-')) ?? null, e.exitCode, e.code, e.message, argv.includes('--json'));
  }
  const [commandName, ...tokens] = g.rest;
  if (codeCacheSwitch() === 'invalid') {
    const v = JSON.stringify(process.env.CHKIT_BACKFILL_CODE_CACHE);
    return fail(commandName ?? null, 2, 'invalid_env', `CHKIT_BACKFILL_CODE_CACHE must be 0 (off) or 1 (on), not ${v}`, g.json);
  }
  try {
    const configPath = findConfig(io.cwd, g.config);
    const config = await loadConfig(configPath);
    const plugins = await loadPlugins(config, configPath);
    const entry = plugins.find((p) => p.name === 'backfill');
    if (!entry) throw new HostError(2, 'plugin_not_registered', `The backfill plugin is not registered in ${configPath} (plugins: [backfill({...})])`);
    const commands = entry.plugin.commands;
    if (!commandName || (g.help && !commandName)) {
      for (const l of usage(commands)) io.out(l);
      return commandName || g.help ? 0 : 2;
    }
    const cmd = commands.find((c) => c.name === commandName);
    if (!cmd) {
      io.err(`Unknown command: ${commandName}`);
      for (const l of usage(commands)) io.err(l);
      return 2;
    }
    if (g.help) {
      for (const l of commandHelp(cmd)) io.out(l);
      return 0;
    }
    const { flags, args } = parseFlags(tokens, cmd.flags ?? []);
    const ctx: CommandContext & { hostName: string } = {
      args,
      flags,
      jsonMode: g.json,
      options: entry.options,
      config,
      configPath,
      pluginName: entry.name,
      tableScope: g.table,
      hostName: HOST_NAME,
      print(value) {
        if (g.json) io.out(JSON.stringify(value, null, 2));
        else if (typeof value === 'string') io.out(value);
      },
    };
    try {
      const code = await cmd.run(ctx);
      return code ?? 0;
    } catch (err) {
      debugStack(err);
      return fail(cmd.name, 1, 'plugin_failed', `Plugin "${entry.name}" failed in command:${cmd.name}: ${oneLine(String((err as Error)?.message ?? err))}`, g.json);
    }
  } catch (err) {
    debugStack(err);
    if (err instanceof HostError) return fail(commandName ?? null, err.exitCode, err.code, err.message, g.json);
    const e = classify(err);
    return fail(commandName ?? null, e.exitCode, e.code, e.message, g.json);
  }
}
