// The project's schema, loaded the way chkit loads it: every `config.schema`
// glob is matched from the config's directory, each matched file is imported,
// and every exported definition (or array of definitions) is collected.
// A file that fails to load, or a glob that matches nothing, is an error that
// names it: a view missed here would silently turn an mv_replay into a table copy.
import fs from 'node:fs';
import path from 'node:path';
import { oneLine, usageError } from '../core/errors.js';
import { importUserModule } from './loader.js';

export interface SchemaColumn {
  name: string;
  type: string;
  nullable?: boolean;
  default?: unknown;
  comment?: string;
}

export interface TableDefinition {
  kind: 'table';
  database: string;
  name: string;
  columns: SchemaColumn[];
  engine?: string;
  primaryKey?: string[];
  orderBy?: string[];
  plugins?: { backfill?: { timeColumn?: string } } & Record<string, unknown>;
}

export interface MaterializedViewDefinition {
  kind: 'materialized_view';
  database: string;
  name: string;
  to: { database: string; name: string };
  as: string;
}

export interface Schema {
  tables: TableDefinition[];
  materializedViews: MaterializedViewDefinition[];
  /** The files that were loaded, absolute. */
  files: string[];
}

/** `*` matches within a path segment, `**` across segments, `?` one character. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  const p = pattern.replace(/^\.\//, '');
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*' && p[i + 1] === '*') {
      const slash = p[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const SKIP_DIRS = new Set(['node_modules', '.git']);

function walk(dir: string, out: string[]): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) walk(p, out);
    } else if (e.isFile()) out.push(p);
  }
}

/** Files matched by the globs, relative to `baseDir`, sorted, each once. */
export function expandGlobs(globs: string[], baseDir: string): string[] {
  const found = new Set<string>();
  for (const glob of globs) {
    const abs = path.resolve(baseDir, glob);
    if (!/[*?]/.test(glob)) {
      if (!fs.existsSync(abs)) throw usageError('schema_not_found', `schema file ${glob} does not exist (config.schema)`);
      found.add(abs);
      continue;
    }
    // Walk only below the part of the pattern without wildcards.
    const parts = abs.split(path.sep);
    const firstWild = parts.findIndex((s) => /[*?]/.test(s));
    const root = parts.slice(0, firstWild).join(path.sep) || path.sep;
    const re = globToRegExp(parts.slice(firstWild).join('/'));
    const files: string[] = [];
    walk(root, files);
    const matched = files.filter((f) => re.test(path.relative(root, f).split(path.sep).join('/')));
    if (matched.length === 0) throw usageError('schema_not_found', `schema glob ${glob} matches no file (config.schema)`);
    for (const f of matched) found.add(f);
  }
  return [...found].sort();
}

function isDefinition(v: unknown): v is { kind: string } {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';
}

/** Every definition a module exports, directly or in arrays. */
export function collectDefinitions(mod: Record<string, unknown>): { kind: string }[] {
  const out: { kind: string }[] = [];
  const seen = new Set<unknown>();
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (isDefinition(v) && !seen.has(v)) {
        seen.add(v);
        out.push(v);
      }
    }
  }
  return out;
}

/** `globs`: chkit's `schema`, matched from the config file's directory. */
export async function loadSchema(globs: string[] | undefined, configPath: string): Promise<Schema> {
  const configDir = path.dirname(path.resolve(configPath));
  const files = expandGlobs(globs ?? [], configDir);
  const schema: Schema = { tables: [], materializedViews: [], files };
  for (const file of files) {
    let mod: Record<string, unknown>;
    try {
      mod = await importUserModule(file, configDir);
    } catch (err) {
      throw usageError('schema_load_failed', `schema file ${path.relative(configDir, file)} failed to load: ${oneLine(String((err as Error)?.message ?? err))}`, err);
    }
    for (const def of collectDefinitions(mod)) {
      if (def.kind === 'table') schema.tables.push(def as TableDefinition);
      else if (def.kind === 'materialized_view') schema.materializedViews.push(def as MaterializedViewDefinition);
    }
  }
  return schema;
}

/** A schema column's type as the server would report it. */
export function schemaColumnType(c: SchemaColumn): string {
  return c.nullable && !c.type.startsWith('Nullable(') ? `Nullable(${c.type})` : c.type;
}
