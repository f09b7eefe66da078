// `doctor`: the diagnosis of a plan (sdk/doctor.ts), for humans.
import { defineCommand, planIdFlag } from './command.js';
import { wrap } from './output.js';

export const doctorCommand = defineCommand(
  'doctor',
  'Diagnose a plan: run state, lock, environment, and the target on the server',
  [planIdFlag],
  async (cx) => {
    const { diagnoseBackfill } = await import('../sdk/doctor.js');
    const r = await diagnoseBackfill(cx.session, { planId: cx.string('--plan-id') ?? '' });
    const cli = cx.session.programName;
    const text = [`Doctor ${r.planId} (${r.target}, ${r.status}): ${r.healthy ? 'ok' : 'problems found'}`];
    for (const i of r.issues) {
      text.push(...wrap(i.message, 80, `  ${i.severity.padEnd(5)} ${i.code}: `, '        '));
      if (i.command) text.push(...wrap(`${cli} ${i.command}`, 80, '        → ', '          '));
      if (i.sql) text.push(...wrap(i.sql, 80, '        SQL: ', '          '));
    }
    for (const n of r.notes) text.push(...wrap(n, 80, '  note: ', '        '));
    if (r.issues.length === 0 && r.notes.length === 0) text.push('  nothing to do');
    return { json: r, text };
  },
);
