// Module hooks of trace_modules.mjs (they run off the main thread).
import fs from 'node:fs';

let out;
export function initialize(data) {
  out = data.out;
}
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  fs.appendFileSync(out, r.url + '\n');
  return r;
}
