// chkit's config model: the shapes the host hands to plugins, and how a
// `clickhouse.config.ts` resolves to them (see shared/docs/chkit-host-contract.md).
import path from 'node:path';
import type { ClickHouseSettings } from '../server/clickhouse.js';
import { oneLine, usageError } from '../core/errors.js';
import { importUserModule } from '../server/loader.js';
import type { BackfillConfig } from './session.js';

export interface InlineRegistration {
  plugin: unknown;
  name?: string;
  enabled?: boolean;
  options?: Record<string, unknown>;
}
export interface ResolveRegistration {
  resolve: string;
  name?: string;
  enabled?: boolean;
  options?: Record<string, unknown>;
}
export type PluginRegistration = string | InlineRegistration | ResolveRegistration;

export interface UserConfig {
  schema?: string | string[];
  outDir?: string;
  migrationsDir?: string;
  metaDir?: string;
  plugins?: PluginRegistration[];
  clickhouse?: Partial<ClickHouseSettings> & { url: string };
  [key: string]: unknown;
}

export interface ResolvedConfig {
  schema: string[];
  outDir: string;
  migrationsDir: string;
  metaDir: string;
  plugins: PluginRegistration[];
  clickhouse?: Required<ClickHouseSettings>;
  [key: string]: unknown;
}

/** Resolve like chkit: defaults, and relative paths against the config's directory. */
export function resolveConfig(user: UserConfig, configPath: string): ResolvedConfig {
  const dir = path.dirname(path.resolve(configPath));
  const abs = (p: string) => path.resolve(dir, p);
  const outDir = abs(user.outDir ?? './chkit');
  const schema = user.schema === undefined ? [] : Array.isArray(user.schema) ? user.schema : [user.schema];
  const { clickhouse: _raw, ...rest } = user;
  const resolved: ResolvedConfig = {
    ...rest,
    schema,
    outDir,
    migrationsDir: user.migrationsDir ? abs(user.migrationsDir) : path.join(outDir, 'migrations'),
    metaDir: user.metaDir ? abs(user.metaDir) : path.join(outDir, 'meta'),
    plugins: user.plugins ?? [],
  };
  if (user.clickhouse) {
    resolved.clickhouse = {
      url: user.clickhouse.url,
      username: user.clickhouse.username ?? 'default',
      password: user.clickhouse.password ?? '',
      database: user.clickhouse.database ?? 'default',
      secure: user.clickhouse.secure ?? false,
    };
  }
  return resolved;
}

/** Import a clickhouse.config.ts (function form included) and resolve it like chkit. */
export async function loadConfig(configPath: string): Promise<ResolvedConfig> {
  let exported: unknown;
  try {
    const mod = await importUserModule(configPath);
    exported = mod.default ?? mod.config;
    // The function form runs the user's code too: what it throws is the config's failure.
    if (typeof exported === 'function') exported = await (exported as (env: unknown) => unknown)({ ...process.env });
  } catch (err) {
    throw usageError('config_failed', `Failed to load ${configPath}: ${oneLine(String((err as Error)?.message ?? err))}`, err);
  }
  if (!exported || typeof exported !== 'object') {
    throw usageError('config_invalid', `${configPath} must export a config (export default defineConfig({...}))`);
  }
  return resolveConfig(exported as UserConfig, configPath);
}

/**
 * What the SDK's operations take, from a project's clickhouse.config.ts: its config and
 * the options of its `backfill({...})` registration (none registered: the defaults).
 */
export async function loadBackfillConfig(configPath: string): Promise<BackfillConfig> {
  const absolute = path.resolve(configPath);
  const config = await loadConfig(absolute);
  const reg = config.plugins.find(
    (r): r is InlineRegistration | ResolveRegistration =>
      typeof r === 'object' && r !== null && (r.name === 'backfill' || ('plugin' in r && (r.plugin as { manifest?: { name?: string } })?.manifest?.name === 'backfill')),
  );
  return { configPath: absolute, config, options: reg?.options ?? {} };
}