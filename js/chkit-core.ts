// Stand-in for the parts of `@chkit/core` a config or schema file imports,
// used by the standalone host when the real package is not installed.
// Same semantics as chkit's: identity `defineConfig`, builders that add `kind`.

export function defineConfig<T>(config: T): T {
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
