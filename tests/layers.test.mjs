// The shim's layers, as the folders show them: imports point one way,
// cli → commands → sdk → engine/server → core. The package entry (js/index.ts)
// sits on top; engine and server may use each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/project.mjs';

const JS = path.join(ROOT, 'js');
const RANK = { cli: 4, commands: 3, sdk: 2, engine: 1, server: 1, core: 0 };
const layerOf = (rel) => (rel.includes('/') ? rel.split('/')[0] : 'top');

function* sources(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

test('imports point one way: cli → commands → sdk → engine/server → core', () => {
  const wrong = [];
  let edges = 0;
  for (const file of sources(JS)) {
    const rel = path.relative(JS, file);
    const from = layerOf(rel);
    assert.ok(from === 'top' || from in RANK, `${rel}: a folder outside the layers`);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = path.relative(JS, path.resolve(path.dirname(file), m[1]));
      if (target.startsWith('..')) continue; // pkg/ (the WASM build)
      edges++;
      const to = layerOf(target);
      if (from === 'top' || from === to) continue;
      const sideways = RANK[from] === RANK[to] && from !== 'core';
      if (to === 'top' || RANK[to] > RANK[from] || (RANK[to] === RANK[from] && !sideways)) wrong.push(`${rel} → ${target}`);
    }
  }
  assert.ok(edges > 50, `read ${edges} imports`);
  assert.deepEqual(wrong, []);
});

test('nothing below the commands knows about flags or printing', () => {
  for (const file of sources(JS)) {
    const rel = path.relative(JS, file);
    if (!['sdk', 'engine', 'server', 'core'].includes(layerOf(rel))) continue;
    const text = fs.readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /from ['"][^'"]*commands\//, `${rel} imports a command module`);
    assert.doesNotMatch(text, /\bctx\.flags\b|\bjsonMode\b|console\.log|process\.stdout\.write/, `${rel} reads flags or prints`);
  }
});
