// Loads the user's TypeScript (config and schema files) the way chkit does:
// through jiti, with `@chkit/plugin-backfill` resolved to this package and
// `@chkit/core` to the real package when installed, else to our stand-in.
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { requireCached } from './code_cache.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Through require, not import: the ESM entry has node scan jiti's 190 KB bundle for its exports on every start.
const { createJiti } = requireCached(import.meta.url, 'jiti') as typeof import('jiti');

function chkitCoreAlias(fromDir: string): string {
  try {
    return createRequire(path.join(fromDir, 'noop.js')).resolve('@chkit/core');
  } catch {
    return path.join(here, 'chkit-core.js');
  }
}

const jitiByDir = new Map<string, ReturnType<typeof createJiti>>();

function jitiFor(fromDir: string) {
  let j = jitiByDir.get(fromDir);
  if (!j) {
    j = createJiti(path.join(fromDir, 'noop.js'), {
      alias: {
        '@chkit/plugin-backfill': path.join(here, '..', 'index.js'),
        '@chkit/core': chkitCoreAlias(fromDir),
      },
      // Transpiled files are cached on disk (babel is then not even loaded): jiti keys an entry
      // by the source's hash and checks it on every read, so an edited file is transpiled again.
      fsCache: true,
      moduleCache: false,
      interopDefault: false,
    });
    jitiByDir.set(fromDir, j);
  }
  return j;
}

/** Import a user's .ts/.js module (a path, or a package name resolved from `baseDir`). */
export async function importUserModule(spec: string, baseDir: string = path.dirname(spec)): Promise<Record<string, unknown>> {
  const isPath = spec.startsWith('.') || path.isAbsolute(spec);
  return (await jitiFor(baseDir).import(isPath ? path.resolve(baseDir, spec) : spec)) as Record<string, unknown>;
}
