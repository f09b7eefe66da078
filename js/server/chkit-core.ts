// Stand-in for the parts of `@chkit/core` a config or schema file imports,
// used by the standalone host when the real package is not installed.
// Same semantics as chkit's: identity `defineConfig`, builders that add `kind`.
// Same typing where it matters: the real `defineConfig` takes plugin options as
// `Record<string, unknown>`, so an options type that is not assignable to it
// fails here as it fails inside the real chkit.

export type ChkitPluginRegistration =
  | string
  | { plugin: unknown; name?: string; enabled?: boolean; options?: Record<string, unknown> }
  | { resolve: string; name?: string; enabled?: boolean; options?: Record<string, unknown> };

export interface ChkitUserConfig {
  schema?: string | string[];
  outDir?: string;
  migrationsDir?: string;
  metaDir?: string;
  plugins?: ChkitPluginRegistration[];
  clickhouse?: { url: string; username?: string; password?: string; database?: string; secure?: boolean };
  [key: string]: unknown;
}

type ConfigInput = ChkitUserConfig | ((env: Record<string, unknown>) => ChkitUserConfig | Promise<ChkitUserConfig>);

export function defineConfig<T extends ConfigInput>(config: T): T {
  return config;
}

export function table<T extends object>(def: T): T & { kind: 'table' } {
  return { ...def, kind: 'table' };
}

export function view<T extends object>(def: T): T & { kind: 'view' } {
  return { ...def, kind: 'view' };
}

export function materializedView<T extends object>(def: T): T & { kind: 'materialized_view' } {
  return { ...def, kind: 'materialized_view' };
}

export function schema<T extends object[]>(...defs: T): T {
  return defs;
}
