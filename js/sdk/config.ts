// chkit's config model: the shapes the host hands to plugins, and how a
// `clickhouse.config.ts` resolves to them (see shared/docs/chkit-host-contract.md).
import path from 'node:path';
import type { ClickHouseSettings } from '../server/clickhouse.js';

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
