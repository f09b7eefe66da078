// A plan as stored. The core writes the header (everything but the chunks) on
// the first line and one chunk per line (src/plan_file.rs), so the header is
// parsed once and a chunk only when it is needed, read from the file by its
// byte range: a run of 100,000 chunks never holds the plan in memory. A plan
// file someone reformatted is still read, by parsing it whole.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { PlanChunk, PlanState } from './core.js';
import { runtimeError } from './errors.js';

export type PlanHeader = Omit<PlanState, 'chunks'>;

export interface Plan extends PlanHeader {
  readonly chunkCount: number;
  /** Chunk `i` (0-based), parsed from its line on each call. */
  chunk(i: number): PlanChunk;
  /** sha256 (hex) of the file's bytes: the plan's part of the compatibility token. */
  readonly sha256: string;
}

const HEADER_END = Buffer.from('"chunks":[');
const NL = 0x0a;
const COMMA = 0x2c;
const BLOCK = 1 << 20;

/** Where the lines are, found in one pass that also hashes the bytes. */
class LineScan {
  private readonly hash = createHash('sha256');
  /** Offset of every newline, and of the end of its line without the array's comma. */
  readonly newlines: number[] = [];
  readonly ends: number[] = [];
  private last = -1;
  size = 0;

  feed(block: Buffer): void {
    this.hash.update(block);
    for (let p = block.indexOf(NL); p >= 0; p = block.indexOf(NL, p + 1)) {
      const before = p > 0 ? block[p - 1] : this.last;
      this.newlines.push(this.size + p);
      this.ends.push(before === COMMA ? this.size + p - 1 : this.size + p);
    }
    if (block.length > 0) this.last = block[block.length - 1];
    this.size += block.length;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

interface Source {
  /** Bytes [start, end) as text. */
  text(start: number, end: number): string;
}

/** Read a plan file: one pass to hash it and find its lines, then chunks on demand. */
export function readPlanFile(file: string): Plan {
  const fd = fs.openSync(file, 'r');
  let identity: fs.Stats;
  const scan = new LineScan();
  try {
    identity = fs.fstatSync(fd);
    const buf = Buffer.allocUnsafe(BLOCK);
    for (let n; (n = fs.readSync(fd, buf, 0, BLOCK, scan.size)) > 0; ) scan.feed(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  const source: Source = {
    text(start, end) {
      // Reopened per read (a run holds no descriptor); the file must still be the one hashed.
      const fd = fs.openSync(file, 'r');
      try {
        const now = fs.fstatSync(fd);
        if (now.ino !== identity.ino || now.size !== identity.size || now.mtimeMs !== identity.mtimeMs) {
          throw runtimeError('plan_changed', `plan file ${file} changed after it was read; plans are immutable (make a new one with \`plan\`)`);
        }
        const out = Buffer.allocUnsafe(end - start);
        for (let off = 0; off < out.length; ) {
          const n = fs.readSync(fd, out, off, out.length - off, start + off);
          if (n === 0) throw runtimeError('plan_changed', `plan file ${file} is shorter than when it was read`);
          off += n;
        }
        return out.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    },
  };
  return openPlan(source, scan, file);
}

/** A plan held in memory (a plan being made), with the same layout as a file. */
export function planFromBytes(data: Uint8Array, where: string): Plan {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const scan = new LineScan();
  scan.feed(bytes);
  return openPlan({ text: (start, end) => bytes.toString('utf8', start, end) }, scan, where);
}

function openPlan(source: Source, scan: LineScan, where: string): Plan {
  const corrupt = (why: string) => runtimeError('plan_corrupt', `plan file ${where} is not a valid plan: ${why}`);
  const parse = (text: string, what: string) => {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw corrupt(`${what}: ${(err as Error).message}`);
    }
  };
  const sha256 = scan.digest();
  const lines = chunkLines(source, scan);
  let header: Record<string, unknown>;
  let chunk: (i: number) => PlanChunk;
  let chunkCount: number;
  if (lines) {
    header = parse(source.text(0, scan.newlines[0]) + ']}', 'header line');
    chunkCount = lines.count;
    chunk = (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < chunkCount)) throw new RangeError(`plan ${where} has no chunk ${i}`);
      return parse(source.text(scan.newlines[i] + 1, scan.ends[i + 1]), `chunk line ${i + 2}`);
    };
  } else {
    header = parse(source.text(0, scan.size), 'JSON');
    const chunks = header?.chunks;
    if (!Array.isArray(chunks)) throw corrupt('no chunks array');
    chunkCount = chunks.length;
    chunk = (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < chunkCount)) throw new RangeError(`plan ${where} has no chunk ${i}`);
      return chunks[i] as PlanChunk;
    };
  }
  if (typeof header !== 'object' || header === null || typeof header.planId !== 'string' || typeof header.target !== 'string') {
    throw corrupt('no planId or target');
  }
  delete header.chunks;
  return Object.assign(header as unknown as PlanHeader, { chunkCount, chunk, sha256 });
}

/**
 * The core's layout: line 1 ends with `"chunks":[`, then one chunk per line,
 * each but the last followed by the array's comma, then `]}` and a final
 * newline. Anything else: undefined (the file is parsed whole).
 */
function chunkLines(source: Source, scan: LineScan): { count: number } | undefined {
  const { newlines: nl, ends } = scan;
  const n = nl.length;
  if (n < 2 || nl[n - 1] !== scan.size - 1 || nl[n - 1] - nl[n - 2] !== 3) return undefined;
  if (nl[0] < HEADER_END.length || source.text(nl[0] - HEADER_END.length, nl[0]) !== HEADER_END.toString()) return undefined;
  if (source.text(nl[n - 2] + 1, nl[n - 1]) !== ']}') return undefined;
  const count = n - 2;
  for (let i = 1; i <= count; i++) {
    const comma = ends[i] !== nl[i];
    if (comma !== i < count) return undefined;
  }
  return { count };
}
