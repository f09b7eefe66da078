// Preloaded with `node --import`: appends every module a process resolves (import and
// require) to the file named by TRACE_MODULES, one per line.
import fs from 'node:fs';
import Module, { register } from 'node:module';

const out = process.env.TRACE_MODULES;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const f = resolve.call(this, request, ...rest);
  fs.appendFileSync(out, f + '\n');
  return f;
};
register(new URL('./trace_hooks.mjs', import.meta.url), { data: { out } });
