// The plugin object inside a host written from the chkit host contract alone
// (tests/helpers/contract-host.mjs) behaves exactly as through the
// `chkit-backfill` bin: same outputs, same exit codes, same check results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProject, seedEvents } from './helpers/project.mjs';
import { runCheck, runPluginCommand } from './helpers/contract-host.mjs';

const planArgs = ['plan', '--target', 'app.events', '--from', '2025-01-01', '--to', '2025-01-02'];

async function both(p, argv) {
  const viaContract = await runPluginCommand(p.dir, argv);
  const viaBin = p.cli(argv, { text: true });
  const binOut = viaBin.stdout.trimEnd() === '' ? [] : viaBin.stdout.trimEnd().split('\n');
  // Hints name the program the user ran: `chkit plugin backfill` there, `chkit-backfill` here.
  const contractOut = viaContract.stdout
    .join('\n')
    .split('\n')
    .filter((l, i, a) => !(a.length === 1 && l === ''))
    .map((l) => l.replaceAll('chkit plugin backfill ', 'chkit-backfill '));
  return { viaContract, viaBin, binOut, contractOut };
}

test('commands give the same output and exit code in the contract host and the bin', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 6 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });
  const first = p.cli(planArgs);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const planId = first.json.planId;
  const scenarios = [
    [...planArgs, '--json'],
    planArgs,
    ['status', '--plan-id', planId, '--json'],
    ['status', '--plan-id', planId],
    ['status', '--plan-id', 'nothex', '--json'],
    ['plan', '--target', 'app.', '--from', '2025-01-01', '--to', '2025-01-02', '--json'],
    ['check', '--json'],
    ['check'],
    ['list', '--json'],
    ['list'],
    ['doctor', '--plan-id', planId, '--json'],
    ['run', '--plan-id', planId, '--dry-run', '--json'],
    ['resume', '--plan-id', planId, '--dry-run'],
    ['plan', ...planArgs.slice(1), '--dry-run', '--json'],
    ['cancel', '--plan-id', 'ffffffffffffffff', '--json'],
  ];
  for (const argv of scenarios) {
    const { viaContract, viaBin, binOut, contractOut } = await both(p, argv);
    assert.equal(viaContract.code, viaBin.code, `${argv.join(' ')}: exit codes`);
    assert.deepEqual(contractOut, binOut, `${argv.join(' ')}: output`);
  }
  // A real run inside the contract host (the plugin opens the embedded engine in this process),
  // then the state it left is read the same way through both hosts.
  const ran = await runPluginCommand(p.dir, ['run', '--plan-id', planId, '--json']);
  assert.equal(ran.code, 0, ran.stdout.join('\n') + ran.stderr.join('\n'));
  assert.equal(JSON.parse(ran.stdout[0]).status, 'completed');
  for (const argv of [['status', '--plan-id', planId, '--chunks', '--json'], ['run', '--plan-id', planId, '--json'], ['check', '--json'], ['list']]) {
    const { viaContract, viaBin, binOut, contractOut } = await both(p, argv);
    assert.equal(viaContract.code, viaBin.code, `${argv.join(' ')}: exit codes`);
    assert.deepEqual(contractOut, binOut, `${argv.join(' ')}: output`);
  }
  // Host-level errors: the contract's parser and the bin's agree.
  for (const argv of [
    ['status', '--plan-id'],
    ['status', '--bogus'],
  ]) {
    const { viaContract, viaBin } = await both(p, argv);
    assert.equal(viaContract.code, 1);
    assert.equal(viaBin.code, 1);
    assert.equal(viaContract.stderr[0], viaBin.stderr.trim());
  }
});

test('chkit check: pending plan fails CI, a completed run passes, relaxed policy only warns', async (t) => {
  const p = createProject({ options: { defaults: { timeColumn: 'event_time', chunkHours: 12 } } });
  t.after(p.cleanup);
  await seedEvents(p, { hours: 24 });

  let c = await runCheck(p.dir);
  assert.equal(c.code, 0);
  assert.deepEqual(c.plugins.backfill.findingCodes, []);

  const plan = p.cli(planArgs);
  assert.equal(plan.code, 0);
  c = await runCheck(p.dir);
  assert.equal(c.code, 1);
  assert.deepEqual(c.failedChecks, ['plugin:backfill']);
  assert.deepEqual(c.plugins.backfill.findingCodes, ['backfill_required_pending']);
  assert.equal(c.plugins.backfill.required, 1);
  assert.equal(c.stdout[0], '- backfill: failed (backfill_required_pending)');
  assert.match(c.stdout.slice(1).join(' ').replace(/\s+/g, ' '), new RegExp(`error backfill_required_pending: .*${plan.json.planId} \\(app\\.events\\)`));
  assert.ok(c.stdout.every((l) => l.length <= 80));
  const bin = p.cli(['check']);
  assert.equal(bin.code, 1);
  assert.deepEqual(bin.json.plugins, c.plugins);

  const run = p.cli(['run', '--plan-id', plan.json.planId]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  c = await runCheck(p.dir, { jsonMode: true });
  assert.equal(c.code, 0);
  assert.deepEqual(c.plugins.backfill, { evaluated: true, ok: true, findingCodes: [], plans: 1, required: 0, active: 0, failed: 0 });
  assert.equal(p.cli(['check']).code, 0);

  // Pending, but the policy says warn: the check passes and says why.
  const relaxed = createProject({
    connection: false,
    options: { defaults: { timeColumn: 'event_time' }, policy: { failCheckOnRequiredPendingBackfill: false } },
  });
  t.after(relaxed.cleanup);
  assert.equal(relaxed.cli(planArgs).code, 0);
  const r = await runCheck(relaxed.dir);
  assert.equal(r.code, 0);
  assert.deepEqual(r.plugins.backfill.findingCodes, ['backfill_required_pending', 'backfill_policy_relaxed']);
  assert.match(r.stdout.join(" ").replace(/\s+/g, " "), /warn backfill_policy_relaxed: safety policies turned off: policy\.failCheckOnRequiredPendingBackfill/);
});
