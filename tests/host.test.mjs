// The standalone host (`chkit-backfill`) loads configs and plugins like chkit,
// parses flags from the command definitions and keeps chkit's exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createProject } from './helpers/project.mjs';

const planArgs = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02'];

test('config may import other TypeScript files, use the function form, and a named `config` export', async (t) => {
  const p = createProject({
    configText: `import { defineConfig } from '@chkit/core';
import { backfill } from '@chkit/plugin-backfill';
import { settings } from './settings/shared.ts';
export const config = defineConfig(async (env) => ({
  metaDir: './state-meta',
  plugins: [backfill({ defaults: { timeColumn: settings.timeColumn, chunkHours: settings.chunkHours } })],
}));
`,
    files: { 'settings/shared.ts': `export const settings: { timeColumn: string; chunkHours: number } = { timeColumn: 'ts', chunkHours: 12 };\n` },
  });
  t.after(p.cleanup);
  const r = p.cli(planArgs);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.timeColumn, 'ts');
  assert.equal(r.json.chunkCount, 2);
  assert.ok(r.json.planPath.startsWith(path.join(p.dir, 'state-meta', 'backfill', 'plans')), r.json.planPath);
});

test('stateDir option resolves against the config file, not the working directory', async (t) => {
  const p = createProject({ connection: false, options: { stateDir: './bf-state', defaults: { timeColumn: 'ts' } } });
  t.after(p.cleanup);
  fs.mkdirSync(path.join(p.dir, 'sub'));
  const r = p.cli([...planArgs, '--config', '../clickhouse.config.ts'], { cwd: path.join(p.dir, 'sub') });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.json.planPath.startsWith(path.join(p.dir, 'bf-state', 'plans')), r.json.planPath);
});

test('plugin registered by module path and by { resolve, options }', async (t) => {
  for (const reg of [
    `{ resolve: '@chkit/plugin-backfill', name: 'backfill', options: { defaults: { timeColumn: 'ts' } } }`,
    `{ resolve: './local-plugin.ts', options: { defaults: { timeColumn: 'ts' } } }`,
  ]) {
    const p = createProject({
      configText: `export default { plugins: [${reg}] };\n`,
      files: { 'local-plugin.ts': `export { default } from '@chkit/plugin-backfill';\n` },
    });
    t.after(p.cleanup);
    const r = p.cli(planArgs);
    assert.equal(r.code, 0, `${reg}: ${r.stdout}${r.stderr}`);
    assert.equal(r.json.timeColumn, 'ts');
  }
});

test('flag parsing and exit codes follow chkit', async (t) => {
  const p = createProject({ connection: false, options: { defaults: { timeColumn: 'ts' } } });
  t.after(p.cleanup);
  const unknown = p.cli([...planArgs, '--nope'], { text: true });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /Unknown flag: --nope/);
  const missing = p.cli(['plan', '--target'], { text: true });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Missing value for --target/);
  const missing2 = p.cli(['plan', '--target', '--from', '2025-01-01'], { text: true });
  assert.equal(missing2.code, 1);
  assert.match(missing2.stderr, /Missing value for --target/);
  const cmd = p.cli(['frobnicate'], { text: true });
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /Unknown command: frobnicate/);
  const help = p.cli(['plan', '--help'], { text: true });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--chunk-hours <hours>/);
  assert.deepEqual(p.stateFiles(), []);
  const text = p.cli(planArgs, { text: true });
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^Planned [0-9a-f]{16}\n/);
  assert.match(text.stdout, /Next: chkit-backfill run --plan-id [0-9a-f]{16}/);
});

test('config problems exit 2 with the reason', async (t) => {
  const none = createProject({ connection: false });
  t.after(none.cleanup);
  fs.rmSync(path.join(none.dir, 'clickhouse.config.ts'));
  const r1 = none.cli(planArgs, { text: true });
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /No clickhouse\.config\.ts/);

  const broken = createProject({ configText: `export default { plugins: [ ;\n` });
  t.after(broken.cleanup);
  const r2 = broken.cli(planArgs);
  assert.equal(r2.code, 2);
  assert.match(r2.json.error, /Failed to load .*clickhouse\.config\.ts/);

  const mismatch = createProject({
    configText: `import { backfill } from '@chkit/plugin-backfill';\nexport default { plugins: [{ ...backfill(), name: 'other' }] };\n`,
  });
  t.after(mismatch.cleanup);
  const r3 = mismatch.cli(planArgs);
  assert.equal(r3.code, 2);
  assert.match(r3.json.error, /registered as "other" but its manifest says "backfill"/);

  const dup = createProject({
    configText: `import { backfill } from '@chkit/plugin-backfill';\nexport default { plugins: [backfill(), backfill()] };\n`,
  });
  t.after(dup.cleanup);
  assert.match(dup.cli(planArgs).json.error, /registered twice/);

  const absent = createProject({ configText: `export default { plugins: [] };\n` });
  t.after(absent.cleanup);
  const r4 = absent.cli(planArgs);
  assert.equal(r4.code, 2);
  assert.match(r4.json.error, /not registered/);
});

test('an exception escaping a command becomes chkit\'s "Plugin failed" line and exit 1', async (t) => {
  // Host behaviour only: a stand-in plugin named backfill whose command throws.
  const p = createProject({
    configText: `export default { plugins: [{ resolve: './thrower.ts' }] };\n`,
    files: {
      'thrower.ts': `export default { manifest: { name: 'backfill', apiVersion: 1 }, commands: [{ name: 'boom', description: 'x', run() { throw new Error('kaput'); } }] };\n`,
    },
  });
  t.after(p.cleanup);
  const r = p.cli(['boom'], { text: true });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Plugin "backfill" failed in command:boom: kaput/);
});
