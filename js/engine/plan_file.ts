// A plan as stored. The core writes the header (everything but the chunks) on
// the first line and one chunk per line (src/plan_file.rs), so the header is
// parsed once and a chunk only when it is needed, read from the file by its
// byte range: a run of 100,000 chunks never holds the plan in memory, and
// `list` reads one line per plan. A plan file someone reformatted is still
// read, by parsing it whole.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { PlanChunk, PlanState } from '../core/core.js';
import { runtimeError } from '../core/errors.js';

export type PlanHeader = Omit<PlanState, 'chunks'>;

export interface Plan extends PlanHeader {
  readonly chunkCount: number;
  /** Chunk `i` (0-based), parsed from its line on each call. */
  chunk(i: number): PlanChunk;
  /**
   * The first chunk (undefined: none), from the line after the header where the file has
   * the core's layout: read with the header, without the pass over the whole file.
   */
  firstChunk(): PlanChunk | undefined;
  /** Chunks [from, to) as JSON text in UTF-8, one per line (a trailing comma may end a line): what `plan_check` reads. */
  chunkLines(from: number, to: number): Uint8Array;
  /** sha256 (hex) of the file's bytes: the plan's part of the compatibility token. */
  readonly sha256: string;
}

const HEADER_END = Buffer.from('"chunks":[');
const NL = 0x0a;
const COMMA = 0x2c;
const BLOCK = 1 << 20;
const READ_AHEAD = 64 << 10;

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
  /** Bytes [start, end), as they are (no decoding for text handed on whole). */
  raw(start: number, end: number): Buffer;
}

/**
 * Read a plan file. Only the header line and the first chunk's are read at
 * first (what `list`, `status` and `check` summarise from); the first use of
 * the other chunks or of the digest reads the whole file once, hashing it and
 * finding its lines, and chunks are then read by their byte ranges. Every read
 * checks that the file is still the one whose header was read.
 */
export function readPlanFile(file: string): Plan {
  const fd = fs.openSync(file, 'r');
  let identity: fs.Stats;
  let head: Buffer[];
  try {
    identity = fs.fstatSync(fd);
    head = readLines(fd, 2);
  } finally {
    fs.closeSync(fd);
  }
  /** Fill `into` with the bytes from `start` on, of the file whose header was read. */
  const readInto = (into: Buffer, start: number): Buffer => {
    // Reopened per read (a run holds no descriptor).
    const fd = fs.openSync(file, 'r');
    try {
      const now = fs.fstatSync(fd);
      if (now.ino !== identity.ino || now.size !== identity.size || now.mtimeMs !== identity.mtimeMs) {
        throw runtimeError('plan_changed', `plan file ${file} changed after it was read; plans are immutable (make a new one with \`plan\`)`);
      }
      for (let off = 0; off < into.length; ) {
        const n = fs.readSync(fd, into, off, into.length - off, start + off);
        if (n === 0) throw runtimeError('plan_changed', `plan file ${file} is shorter than when it was read`);
        off += n;
      }
      return into;
    } finally {
      fs.closeSync(fd);
    }
  };
  const bytes = (start: number, end: number): Buffer => readInto(Buffer.allocUnsafe(end - start), start);
  const scanFile = () => {
    const scan = new LineScan();
    // One block buffer for the whole pass: a new one per block costs more in page faults than the read.
    const block = Buffer.allocUnsafe(Math.min(BLOCK, identity.size));
    for (let at = 0; at < identity.size; at += BLOCK) scan.feed(readInto(block.subarray(0, Math.min(BLOCK, identity.size - at)), at));
    return scan;
  };
  // A run reads chunks in order: one read serves the lines that follow too.
  let cached: { start: number; buf: Buffer } = { start: 0, buf: Buffer.alloc(0) };
  const raw = (start: number, end: number): Buffer => {
    if (start < cached.start || end > cached.start + cached.buf.length) {
      cached = { start, buf: bytes(start, Math.min(identity.size, Math.max(end, start + READ_AHEAD))) };
    }
    return cached.buf.subarray(start - cached.start, end - cached.start);
  };
  return openPlan({ text: (start, end) => raw(start, end).toString('utf8'), raw }, head, scanFile, file);
}

/** The file's first `count` lines (without their newlines; fewer where the file ends first, the last then unterminated). */
function readLines(fd: number, count: number): Buffer[] {
  const lines: Buffer[] = [];
  let parts: Buffer[] = [];
  for (let at = 0; lines.length < count; ) {
    const buf = Buffer.allocUnsafe(64 << 10);
    const n = fs.readSync(fd, buf, 0, buf.length, at);
    if (n === 0) {
      if (parts.length > 0 || lines.length === 0) lines.push(Buffer.concat(parts));
      return lines;
    }
    let from = 0;
    for (let nl = buf.indexOf(NL, 0); nl >= 0 && nl < n && lines.length < count; nl = buf.indexOf(NL, from)) {
      parts.push(buf.subarray(from, nl));
      lines.push(Buffer.concat(parts));
      parts = [];
      from = nl + 1;
    }
    if (from < n) parts.push(buf.subarray(from, n));
    at += n;
  }
  return lines;
}

/** The first two lines of `bytes` whose first newline is at `nl` (the whole when there is none). */
function firstLines(bytes: Buffer, nl: number): Buffer[] {
  if (nl < 0) return [bytes];
  const next = bytes.indexOf(NL, nl + 1);
  return [bytes.subarray(0, nl), bytes.subarray(nl + 1, next < 0 ? bytes.length : next)];
}

/** A plan held in memory (a plan being made), with the same layout as a file. */
export function planFromBytes(data: Uint8Array, where: string): Plan {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const nl = bytes.indexOf(NL);
  const scanBytes = () => {
    const scan = new LineScan();
    scan.feed(bytes);
    return scan;
  };
  return openPlan(
    { text: (start, end) => bytes.toString('utf8', start, end), raw: (start, end) => bytes.subarray(start, end) },
    firstLines(bytes, nl),
    scanBytes,
    where,
  );
}

interface Chunks {
  count: number;
  chunk(i: number): PlanChunk;
  lines(from: number, to: number): Uint8Array;
  sha256: string;
}

/** `lines`: the first line and the second (when read); `scan`: one pass over all bytes, done when the chunks are first needed. */
function openPlan(source: Source, [head, second]: Buffer[], scan: () => LineScan, where: string): Plan {
  const corrupt = (why: string) => runtimeError('plan_corrupt', `plan file ${where} is not a valid plan: ${why}`);
  const parse = (text: string, what: string) => {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw corrupt(`${what}: ${(err as Error).message}`);
    }
  };
  const inRange = (i: number, count: number) => {
    if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`plan ${where} has no chunk ${i}`);
  };
  /** A file not in the core's layout (reformatted by hand): parsed whole, header and chunks. */
  const whole = (s: LineScan): { header: Record<string, unknown>; chunks: Chunks } => {
    const header = parse(source.text(0, s.size), 'JSON');
    const list = header?.chunks;
    if (!Array.isArray(list)) throw corrupt('no chunks array');
    return {
      header,
      chunks: {
        count: list.length,
        chunk: (i) => (inRange(i, list.length), list[i] as PlanChunk),
        lines: (from, to) => Buffer.from(list.slice(from, to).map((c) => JSON.stringify(c)).join('\n')),
        sha256: s.digest(),
      },
    };
  };

  let header: Record<string, unknown>;
  let chunks: () => Chunks;
  // The first chunk from line 2 alone; undefined where that line is not one chunk on its own.
  let quickFirst: () => { chunk?: PlanChunk } | undefined = () => undefined;
  if (head.length >= HEADER_END.length && head.subarray(head.length - HEADER_END.length).equals(HEADER_END)) {
    header = parse(head.toString('utf8') + ']}', 'header line');
    quickFirst = () => {
      if (second === undefined) return undefined;
      const text = second.toString('utf8');
      if (text === ']}') return {};
      try {
        // Line 2 of the core's layout is chunk 1 and its comma.
        const c = JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text);
        return c && typeof c === 'object' && !Array.isArray(c) ? { chunk: c as PlanChunk } : undefined;
      } catch {
        return undefined;
      }
    };
    let known: Chunks | undefined;
    chunks = () => {
      if (known) return known;
      const s = scan();
      const lines = chunkLines(source, s);
      if (!lines) return (known = whole(s).chunks);
      known = {
        count: lines.count,
        chunk: (i) => (inRange(i, lines.count), parse(source.text(s.newlines[i] + 1, s.ends[i + 1]), `chunk line ${i + 2}`)),
        // The raw lines, as written: the commas between them are left for the reader.
        lines: (from, to) => (to <= from ? Buffer.alloc(0) : (inRange(from, lines.count), inRange(to - 1, lines.count), source.raw(s.newlines[from] + 1, s.ends[to]))),
        sha256: s.digest(),
      };
      return known;
    };
  } else {
    const w = whole(scan());
    header = w.header;
    chunks = () => w.chunks;
  }
  if (typeof header !== 'object' || header === null || typeof header.planId !== 'string' || typeof header.target !== 'string') {
    throw corrupt('no planId or target');
  }
  delete header.chunks;
  return Object.defineProperties(header, {
    chunkCount: { get: () => chunks().count },
    sha256: { get: () => chunks().sha256 },
    chunk: { value: (i: number) => chunks().chunk(i) },
    firstChunk: {
      value: () => {
        const quick = quickFirst();
        if (quick) return quick.chunk;
        const all = chunks();
        return all.count > 0 ? all.chunk(0) : undefined;
      },
    },
    chunkLines: { value: (from: number, to: number) => chunks().lines(from, to) },
  }) as unknown as Plan;
}

/**
 * The core's layout: line 1 ends with `"chunks":[`, then one chunk per line,
 * each but the last followed by the array's comma, then `]}` and a final
 * newline. Anything else: undefined (the file is parsed whole).
 */
function chunkLines(source: Source, scan: LineScan): { count: number } | undefined {
  const { newlines: nl, ends } = scan;
  const n = nl.length;
  // (The first line's end was checked on the header already.)
  if (n < 2 || nl[n - 1] !== scan.size - 1 || nl[n - 1] - nl[n - 2] !== 3) return undefined;
  if (source.text(nl[n - 2] + 1, nl[n - 1]) !== ']}') return undefined;
  const count = n - 2;
  for (let i = 1; i <= count; i++) {
    const comma = ends[i] !== nl[i];
    if (comma !== i < count) return undefined;
  }
  return { count };
}
