// V8's code cache for the CommonJS every command loads on start (jiti's 190 KB bundle above
// all): compiled from the cache, not from its source, jiti loads in about 13 ms instead of 18
// (BENCHMARKS.md, 2026-12-04). Only where the process is ours (the standalone host turns it
// on): inside another host, nothing here writes a file or changes how modules load. Node ≥ 22.1 keeps such a
// cache itself (`module.enableCompileCache`, for the ES modules too); this covers Node 20.
// The cache is the user's own: a directory only they can write, entries named by the hash
// of the source and the Node build, so a changed file or Node never meets an old entry (V8
// itself checks only the source's length). Any failure falls back to compiling the source.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import Module, { createRequire } from 'node:module';

type CjsModule = { exports: unknown; require: (id: string) => unknown; filename: string; paths: string[] };
type Compile = (this: CjsModule, content: string, filename: string) => unknown;
const proto = (Module as unknown as { prototype: { _compile: Compile } }).prototype;
const wrap = (Module as unknown as { wrap: (src: string) => string }).wrap;
const resolveFilename = (Module as unknown as { _resolveFilename: (r: string, parent: CjsModule, isMain: boolean, o?: unknown) => string })._resolveFilename;

/** Where `requireCached` keeps its entries; none until `enableCodeCache`. */
let dir: string | undefined;

/** `CHKIT_BACKFILL_CODE_CACHE`: unset or `1` on, `0` off; anything else is refused by the host. */
export function codeCacheSwitch(value = process.env.CHKIT_BACKFILL_CODE_CACHE): 'on' | 'off' | 'invalid' {
  return value === undefined || value === '1' ? 'on' : value === '0' ? 'off' : 'invalid';
}

/** Cache compiled code from now on in this process (before the modules to cache load). */
export function enableCodeCache(): void {
  if (codeCacheSwitch() !== 'on') return;
  const enable = (Module as unknown as { enableCompileCache?: () => unknown }).enableCompileCache;
  if (typeof enable === 'function') {
    try {
      enable(); // Node's own, in its own directory
      return;
    } catch {
      // fall through to ours
    }
  }
  dir = cacheDir();
}

/** `require(id)` from `fromUrl`, every CommonJS file it loads compiled through the cache. */
export function requireCached(fromUrl: string, id: string): unknown {
  const req = createRequire(fromUrl);
  if (!dir) return req(id);
  const into = dir;
  const original = proto._compile;
  proto._compile = function (content, filename) {
    // A script from `vm` has no loader for `import()` on Node 20 (but an experimental one): the
    // small files that call it compile as usual; the big bundle worth caching only receives such
    // a function (jiti's lib/jiti.cjs hands dist/jiti.cjs its `import`). That is why package.json
    // pins jiti's version: every config load goes through that `import`, so the tests check a
    // new jiti before users get it.
    if (content.length < MIN_SIZE) return original.call(this, content, filename);
    try {
      return compileCached(this, content, filename, into);
    } catch {
      return original.call(this, content, filename);
    }
  };
  try {
    return req(id);
  } finally {
    proto._compile = original;
  }
}

/** Smaller files compile fast enough from source. */
const MIN_SIZE = 32 * 1024;

/** Scripts compiled without an entry: their cache is written at exit, with what ran by then. */
const pending: { script: vm.Script; file: string }[] = [];

function compileCached(m: CjsModule, content: string, filename: string, dir: string): unknown {
  const key = crypto.createHash('sha256').update(process.version).update(process.arch).update(filename).update(content).digest('hex').slice(0, 32);
  const file = path.join(dir, `${key}.v8`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(file);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(wrap(content), { filename, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    if (pending.length === 0) process.once('exit', writePending);
    pending.push({ script, file });
  }
  const require = Object.assign((id: string) => m.require(id), {
    resolve: (request: string, options?: unknown) => resolveFilename(request, m, false, options),
    cache: (Module as unknown as { _cache: unknown })._cache,
  });
  const fn = script.runInThisContext() as (...a: unknown[]) => unknown;
  return fn.call(m.exports, m.exports, require, m, filename, path.dirname(filename));
}

function writePending(): void {
  for (const { script, file } of pending.splice(0)) {
    try {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, file); // whole or not at all, whatever runs beside us
    } catch {
      // a cache we cannot write is only a slower start next time
    }
  }
}

/** The user's cache directory, or none where it is not theirs alone. */
function cacheDir(): string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const dir = path.join(os.tmpdir(), `chkit-backfill-code-cache-${uid ?? os.userInfo().username}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    // Someone else's directory (or a link) could hand us their code: compile from source.
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
