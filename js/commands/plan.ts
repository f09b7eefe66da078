// `plan`: flags → plan request (sdk/plan.ts), result → lines; on a terminal it asks
// for a time column that was detected or is ambiguous.
import type { PlanPreview } from '../core/core.js';
import { usageError } from '../core/errors.js';
import type { PlanInput, PlanResult } from '../sdk/plan.js';
import { defineCommand, type Cx, type FlagDef } from './command.js';
import { cliName, wrap } from './output.js';
import { canPrompt, choose, confirm } from './prompt.js';

export const planFlags: FlagDef[] = [
  { name: '--target', type: 'string', description: 'Table to backfill (database.table)', placeholder: '<db.table>' },
  { name: '--from', type: 'string', description: 'Window start, inclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--to', type: 'string', description: 'Window end, exclusive (date or ISO timestamp)', placeholder: '<time>' },
  { name: '--chunk-hours', type: 'string', description: 'Chunk length in hours (may be fractional)', placeholder: '<hours>' },
  { name: '--chunk-rows', type: 'string', description: 'Chunks of about this many rows, cut from the data (instead of --chunk-hours)', placeholder: '<rows>' },
  { name: '--chunk-bytes', type: 'string', description: 'Chunks of about this many uncompressed bytes (512MB, 2GiB)', placeholder: '<size>' },
  { name: '--time-column', type: 'string', description: 'Column the window filters on', placeholder: '<column>' },
  { name: '--source', type: 'string', description: 'Copy the window from this table instead (strategy copy)', placeholder: '<db.table>' },
  { name: '--force-large-window', type: 'boolean', description: 'Allow a window over limits.maxWindowHours' },
  { name: '--setting', type: 'string[]', description: 'A setting for every chunk INSERT (repeatable; over options.insertSettings)', placeholder: '<name=value>' },
];

export function planInputFromFlags(cx: Cx): PlanInput {
  return {
    chooseTimeColumns: canPrompt(cx.jsonMode) ? promptTimeColumns : undefined,
    target: cx.string('--target'),
    from: cx.string('--from'),
    to: cx.string('--to'),
    chunkHours: cx.string('--chunk-hours'),
    chunkRows: cx.string('--chunk-rows'),
    chunkBytes: cx.string('--chunk-bytes'),
    timeColumn: cx.string('--time-column'),
    source: cx.string('--source'),
    forceLargeWindow: cx.bool('--force-large-window'),
    settings: rejoinSettings(cx.strings('--setting')),
  };
}

/**
 * chkit splits a `string[]` flag's value on commas (`--setting log_comment=a,b` arrives as
 * `log_comment=a` and `b`): a piece that is not `name=value` was part of the value before it.
 */
function rejoinSettings(pieces: string[]): string[] {
  const out: string[] = [];
  for (const piece of pieces) {
    if (out.length > 0 && !piece.includes('=')) out[out.length - 1] += `,${piece}`;
    else out.push(piece);
  }
  return out;
}

/** On a terminal, confirm a detected time column or pick one of several. */
async function promptTimeColumns(preview: PlanPreview): Promise<Record<string, string>> {
  const chosen: Record<string, string> = {};
  for (const c of preview.timeColumns) {
    const single = c.origin === 'detected' ? c.column : c.column === null && c.candidates.length === 1 ? c.candidates[0].name : null;
    if (single) {
      if (!(await confirm(`Use ${single} as the time column of ${c.table}?`))) {
        throw usageError('missing_time_column', `no time column chosen for ${c.table}: pass --time-column <column>`);
      }
      chosen[c.table] = single;
    } else if (c.column === null && c.candidates.length > 1) {
      const i = await choose(
        `Which column of ${c.table} holds the time the window is cut on?`,
        c.candidates.map((k) => `${k.name} (${k.type}${k.inOrderBy ? ', in ORDER BY' : ''})`),
      );
      if (i === undefined) throw usageError('missing_time_column', `no time column chosen for ${c.table}: pass --time-column <column>`);
      chosen[c.table] = c.candidates[i].name;
    }
  }
  return chosen;
}

export const planCommand = defineCommand(
  'plan',
  'Cut a time window of a table into chunks and write an immutable backfill plan',
  [
    ...planFlags,
    { name: '--force', type: 'boolean', description: 'Replace an existing plan with these parameters (its run and events are kept under new names); refused when its run applied chunks' },
    { name: '--discard-applied', type: 'boolean', description: 'With --force: replace the plan although its run applied chunks, which the new run applies again' },
    { name: '--dry-run', type: 'boolean', description: 'Show the chunks and the SQL of the first and last chunk; write nothing' },
  ],
  async (cx) => {
    const { planBackfill } = await import('../sdk/plan.js');
    const r = await planBackfill(cx.session, {
      ...planInputFromFlags(cx),
      force: cx.bool('--force'),
      discardApplied: cx.bool('--discard-applied'),
      dryRun: cx.bool('--dry-run'),
    });
    return { json: r, text: planLines(r, cx) };
  },
);

function planLines(r: PlanResult, cx: Cx): string[] {
  const cli = cliName(cx);
  const hours = (Date.parse(r.to) - Date.parse(r.from)) / 3_600_000;
  const detected = r.timeColumns.filter((c) => c.origin === 'detected');
  const viewLines = (r.views ?? []).flatMap((v) =>
    wrap(`${v.name} ← ${v.source} on ${v.timeColumn} (${v.columns.join(', ')}; query from ${v.queryFrom})`, 80, '  view      ', '              '),
  );
  return [
    `${r.dryRun ? 'Dry run (nothing written):' : r.existed ? 'Plan already exists' : 'Planned'} ${r.planId}`,
    `  target    ${r.target} (strategy ${r.strategy}${r.source ? ` from ${r.source}` : ''})`,
    `  window    ${r.from} → ${r.to} (${hours} h)`,
    r.sizing && r.distribution
      ? `  chunks    ${r.chunkCount} of about ${'rows' in r.sizing ? `${r.sizing.rows} rows` : `${r.sizing.bytes} bytes`} on ${r.timeColumn} (grid ${r.distribution.gridMinutes} min)`
      : `  chunks    ${r.chunkCount} × ${r.chunkHours} h on ${r.timeColumn}`,
    ...(r.distribution
      ? [
          `  expected  rows per chunk: min ${r.distribution.expectedRows.min}, median ${r.distribution.expectedRows.median}, max ${r.distribution.expectedRows.max} (${r.distribution.expectedRows.total} in all)`,
          ...(r.histogram ?? []),
        ]
      : []),
    ...viewLines,
    ...(r.distributed
      ? [`  shards    Distributed over cluster ${r.distributed.cluster} (${r.distributed.shards} shard(s)) into ${r.distributed.remoteDatabase}.${r.distributed.remoteTable}${r.distributed.shardingKey ? `, sharded by ${r.distributed.shardingKey}` : ''}`]
      : []),
    ...(r.insertSettings ? [`  settings  ${Object.entries(r.insertSettings).map(([k, v]) => `${k}=${v}`).join(', ')} on every chunk INSERT`] : []),
    ...detected.map((c) => `  detected  time column ${c.column} of ${c.table} (the only date/time column in its ORDER BY)`),
    `  plan      ${r.planPath}${r.dryRun ? ' (not written)' : ''}`,
    ...(r.keptFiles ?? []).map((f) => `  kept      ${f}`),
    ...(r.upgraded
      ? [`  upgraded  added the SQL digests a run checks its chunks against (chunks unchanged; a run already started continues with \`resume --plan-id ${r.planId} --force-compatibility\`)`]
      : []),
    ...r.warnings.map((w) => `warning: ${w}`),
    ...(r.dryRun ? dryRunLines(r, `${cli} plan${flagsAgain(cx)}`) : [`Next: ${cli} run --plan-id ${r.planId}`]),
  ];
}

function dryRunLines(r: PlanResult, again: string): string[] {
  const chunks = r.chunks ?? [];
  const n = chunks.length;
  const shown = n <= 12 ? [...Array(n).keys()] : [0, 1, 2, 3, 4, n - 5, n - 4, n - 3, n - 2, n - 1];
  const lines = ['', `Chunks (${n}):`];
  for (const i of shown) {
    const c = chunks[i];
    if (n > 12 && i === n - 5) lines.push(`  … ${n - 10} more …`);
    lines.push(`  ${String(i + 1).padStart(String(n).length)}  ${c.from} → ${c.to}  ${c.id}`);
  }
  const sqlBlock = (title: string, i: number, sql: string[]) => ['', `${title} (${chunks[i].from} → ${chunks[i].to}):`, ...sql.map((q) => q + ';')];
  lines.push(...sqlBlock('SQL of the first chunk', 0, r.firstChunkSql ?? []));
  if (n > 1) lines.push(...sqlBlock('SQL of the last chunk', n - 1, r.lastChunkSql ?? []));
  lines.push('', `Write the plan: ${again}`);
  return lines;
}

/** The flags as given, minus --dry-run: the command that writes this plan. */
function flagsAgain(cx: Cx): string {
  return Object.entries(cx.ctx.flags)
    .filter(([k, v]) => k !== '--dry-run' && v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k} ${/^[\w:.+-]+$/.test(String(v)) ? v : JSON.stringify(String(v))}`))
    .join('');
}
