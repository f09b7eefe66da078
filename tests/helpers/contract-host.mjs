// A second, independent chkit host written from shared/docs/chkit-host-contract.md
// and nothing else: it loads a project's config, resolves the plugin
// registration, parses flags from the command definitions, prints like chkit
// and aggregates `chkit check`. Conformance tests run the same scenarios here
// and through the `chkit-backfill` bin and compare.
import path from 'node:path';
import { createJiti } from 'jiti';
import { ROOT } from './project.mjs';

const jiti = createJiti(import.meta.url, {
  alias: {
    '@chkit/core': path.join(ROOT, 'dist', 'server', 'chkit-core.js'),
    '@chkit/plugin-backfill': path.join(ROOT, 'dist', 'index.js'),
  },
  fsCache: false,
  moduleCache: false,
});

async function loadProject(dir) {
  const configPath = path.join(dir, 'clickhouse.config.ts');
  const mod = await jiti.import(configPath);
  let cfg = mod.default ?? mod.config;
  if (typeof cfg === 'function') cfg = await cfg({});
  // As the real CLI (measured): paths stay as written, relative ones meant against the
  // current directory, which here is not the project's.
  const outDir = cfg.outDir ?? './chkit';
  const config = {
    ...cfg,
    schema: [].concat(cfg.schema ?? []),
    outDir,
    migrationsDir: cfg.migrationsDir ?? path.join(outDir, 'migrations'),
    metaDir: cfg.metaDir ?? path.join(outDir, 'meta'),
    plugins: cfg.plugins ?? [],
  };
  if (cfg.clickhouse) {
    config.clickhouse = { username: 'default', password: '', database: 'default', secure: false, ...cfg.clickhouse };
  }
  const plugins = [];
  for (const reg of config.plugins) {
    if (typeof reg === 'string' || reg.resolve) throw new Error('contract host: only inline registrations in these tests');
    if (reg.enabled === false) continue;
    const p = reg.plugin;
    if (p.manifest?.apiVersion !== 1) throw new Error('apiVersion');
    if (!p.manifest.name) throw new Error('empty name');
    if (reg.name && reg.name !== p.manifest.name) throw new Error('name mismatch');
    if (plugins.some((x) => x.name === p.manifest.name)) throw new Error('duplicate');
    plugins.push({ name: p.manifest.name, plugin: p, options: reg.options ?? {} });
  }
  return { config, configPath, plugins };
}

function parseFlags(defs, tokens) {
  const flags = {};
  const args = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!t.startsWith('--')) {
      args.push(t);
      continue;
    }
    const def = defs.find((d) => d.name === t) ?? defs.find((d) => d.negation && `--no-${d.name.slice(2)}` === t);
    if (!def) throw Object.assign(new Error(`Unknown flag: ${t}`), { exit: 1 });
    if (def.name !== t) {
      flags[def.name] = false;
      continue;
    }
    if (def.type === 'boolean') {
      flags[def.name] = true;
      continue;
    }
    const v = tokens[i + 1];
    if (v === undefined || v.startsWith('--')) throw Object.assign(new Error(`Missing value for ${t}`), { exit: 1 });
    i++;
    flags[def.name] = def.type === 'string' ? v : [...(flags[def.name] ?? []), ...v.split(',')];
  }
  return { flags, args };
}

/**
 * `chkit plugin backfill <command> ...` (entry 'plugin'), or `chkit backfill <command> ...`
 * (entry 'backfill': onConfigLoaded first, empty args), as the real CLI does them:
 * a command's flags are parsed only when it declares some. Returns { code, stdout, stderr }.
 */
export async function runPluginCommand(dir, argv, { entry: via = 'plugin' } = {}) {
  const out = [];
  const err = [];
  const jsonMode = argv.includes('--json');
  const tokens = argv.filter((a) => a !== '--json');
  const [name, ...rest] = tokens;
  const { config, configPath, plugins } = await loadProject(dir);
  const entry = plugins.find((p) => p.name === 'backfill');
  const cmd = entry.plugin.commands.find((c) => c.name === name);
  if (!cmd) return { code: 1, stdout: out, stderr: [] };
  const fail = (message) => {
    if (jsonMode) out.push(JSON.stringify({ command: 'plugin', schemaVersion: 1, ok: false, error: message }, null, 2));
    else err.push(message);
    return { code: 1, stdout: out, stderr: err };
  };
  let parsed = { flags: {}, args: [] };
  if (cmd.flags?.length) {
    try {
      parsed = parseFlags(cmd.flags, rest);
    } catch (e) {
      return fail(e.message);
    }
  }
  const tableScope = {};
  if (via === 'backfill') {
    try {
      await entry.plugin.hooks?.onConfigLoaded?.({ command: name, config, configPath, jsonMode, options: entry.options, tableScope, flags: parsed.flags });
    } catch (e) {
      return fail(e.message);
    }
  }
  const ctx = {
    flags: parsed.flags,
    args: via === 'plugin' ? rest : [],
    jsonMode,
    options: entry.options,
    config,
    configPath,
    pluginName: 'backfill',
    tableScope,
    print(value) {
      if (jsonMode) out.push(JSON.stringify(value, null, 2));
      else if (typeof value === 'string') out.push(value);
    },
  };
  try {
    const code = await cmd.run(ctx);
    return { code: code ?? 0, stdout: out, stderr: err };
  } catch (e) {
    return { code: 1, stdout: out, stderr: [`Plugin "backfill" failed in command:${name}: ${e.message}`] };
  }
}

/** `chkit check` as the contract describes it, for the backfill plugin only. */
export async function runCheck(dir, { jsonMode = false } = {}) {
  const { config, configPath, plugins } = await loadProject(dir);
  const out = [];
  const print = (v) => {
    if (typeof v === 'string') out.push(v);
  };
  const failedChecks = [];
  const pluginsJson = {};
  for (const p of plugins) {
    const base = { config, configPath, jsonMode, options: p.options, tableScope: {}, flags: {} };
    await p.plugin.hooks?.onConfigLoaded?.(base);
    const result = await p.plugin.hooks?.onCheck?.({ command: 'check', ...base });
    if (!result) continue;
    const failed = result.evaluated && !result.ok && result.findings.some((f) => f.severity === 'error');
    if (failed) failedChecks.push(`plugin:${p.name}`);
    pluginsJson[p.name] = { evaluated: result.evaluated, ok: result.ok, findingCodes: result.findings.map((f) => f.code), ...(result.metadata ?? {}) };
    if (!jsonMode) {
      out.push(`- ${p.name}: ${failed ? 'failed' : 'ok'}${result.findings.length ? ` (${result.findings.map((f) => f.code).join(', ')})` : ''}`);
      await p.plugin.hooks?.onCheckReport?.({ result, print });
    }
  }
  const code = failedChecks.length > 0 ? 1 : 0;
  if (jsonMode) out.push(JSON.stringify({ ok: code === 0, failedChecks, plugins: pluginsJson }, null, 2));
  return { code, stdout: out, failedChecks, plugins: pluginsJson };
}
