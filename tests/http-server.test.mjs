// Protocol-level behaviour against a real ClickHouse HTTP server (Debian's
// 18.16): failures exit 1 with the server's cause, credentials never appear
// in output or state. The plugin's SQL needs a modern server, so these tests
// stop at the connection and authentication layer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createProject } from './helpers/project.mjs';
import { PASSWORD, SERVER_BIN, USER, startServer } from './helpers/ch18.mjs';
import { environmentOf } from '../dist/server/clickhouse.js';

const skip = SERVER_BIN ? false : 'clickhouse-server is not installed (scripts/test.sh installs it as root)';
let server;
before(async () => {
  if (!skip) server = await startServer();
});
after(() => server?.stop());

function httpProject(url) {
  return createProject({
    configText: `import { backfill } from '@chkit/plugin-backfill';
export default {
  clickhouse: { url: ${JSON.stringify(url)}, username: ${JSON.stringify(USER)}, password: process.env.BF_TEST_PASSWORD, database: 'default' },
  plugins: [backfill({ defaults: { timeColumn: 'event_time' } })],
};
`,
  });
}

const planArgs = ['plan', '--target', 'default.events', '--from', '2025-01-01', '--to', '2025-01-02'];

test('wrong password: exit 1 with the server\'s code and message, nothing written, neither password nor user name echoed', { skip }, async (t) => {
  const wrong = 'wrong-' + PASSWORD;
  const p = httpProject(server.url);
  t.after(p.cleanup);
  for (const json of [true, false]) {
    const r = p.cli(planArgs, { text: !json, env: { BF_TEST_PASSWORD: wrong } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /ClickHouse error 193/);
    // The server names the user; what we print names none (it may end up in CI logs).
    assert.match(out, /Wrong password for user <user>/);
    assert.ok(!out.includes(USER), 'user name must not be printed');
    assert.ok(!out.includes(wrong) && !out.includes(PASSWORD), 'password must not be printed');
  }
  assert.deepEqual(p.stateFiles(), []);
});

test('unreachable server: exit 1 saying it cannot be reached', { skip }, async (t) => {
  const dead = server.url.replace(/:(\d+)$/, (_, port) => `:${Number(port) === 1 ? 2 : 1}`);
  const p = httpProject(dead);
  t.after(p.cleanup);
  const r = p.cli(planArgs, { env: { BF_TEST_PASSWORD: PASSWORD } });
  assert.equal(r.code, 1);
  assert.match(r.json.error, /cannot reach ClickHouse: .*ECONNREFUSED/);
  assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
  assert.deepEqual(p.stateFiles(), []);
});

test('right password reaches the server; its error codes come through', { skip }, async (t) => {
  const p = httpProject(server.url);
  t.after(p.cleanup);
  const r = p.cli(planArgs, { env: { BF_TEST_PASSWORD: PASSWORD } });
  // 18.16 is authenticated fine but rejects the modern metadata query: a server error, not a network one.
  assert.equal(r.code, 1);
  assert.match(r.json.error, /^ClickHouse error \d+/);
  assert.doesNotMatch(r.json.error, /193|Wrong password/);
  assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
});

test('the environment identity keeps only the URL origin', () => {
  const env = environmentOf({ url: `http://${USER}:${PASSWORD}@db.internal:8443/some/path?x=1`, database: 'app' }, '/tmp');
  assert.deepEqual(env, { origin: 'http://db.internal:8443', database: 'app' });
  assert.deepEqual(environmentOf({ url: 'chdb:./data' }, '/srv/proj'), { origin: 'chdb:/srv/proj/data', database: 'default' });
});
