// Importing @chkit/plugin-backfill types `plugins: { backfill: { timeColumn } }`
// on chkit table definitions (declaration merging on @chkit/core's TablePlugins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, sh } from './helpers/project.mjs';

const FIXTURES = path.join(ROOT, 'tests', 'fixtures', 'types');

function tsc(file, core = path.join(FIXTURES, 'chkit-core.d.ts')) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chkit-backfill-types-'));
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      types: [],
      baseUrl: FIXTURES,
      paths: { '@chkit/core': [core], '@chkit/plugin-backfill': [path.join(ROOT, 'dist', 'index.d.ts')] },
    },
    files: [path.join(FIXTURES, file)],
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
  const r = sh(path.join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
  return r;
}

test('plugins.backfill.timeColumn is typed once the package is imported', () => {
  const r = tsc('schema.ts');
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('without the import, plugins.backfill is untyped (the check above is the import\'s doing)', () => {
  const r = tsc('no-plugin.ts');
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /Unused '@ts-expect-error' directive/);
});

// The bundled @chkit/core stand-in carries the real defineConfig's constraint on plugin options.
const BUNDLED_CORE = path.join(ROOT, 'dist', 'server', 'chkit-core.d.ts');

test('plugins: [backfill({...})] type-checks inside defineConfig (plugin options are Record<string, unknown>)', () => {
  const r = tsc('config.ts', BUNDLED_CORE);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the bundled defineConfig rejects options typed as an interface, as the real one does', () => {
  const r = tsc('config-interface.ts', BUNDLED_CORE);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
