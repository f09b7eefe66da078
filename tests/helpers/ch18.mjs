// A real ClickHouse HTTP server from Debian (18.16): far too old for the
// plugin's SQL, but real for protocol-level behaviour (authentication,
// unreachable servers, server error codes). Started on a free loopback port.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

export const SERVER_BIN = ['/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server'].find((p) => fs.existsSync(p));
export const USER = 'bf_user';
export const PASSWORD = 's3cret-Pa55-never-logged';

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ch18-'));
  const [http, tcp, inter] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${inter}</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
`,
  );
  fs.writeFileSync(
    path.join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <${USER}>
      <password>${PASSWORD}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${USER}>
  </users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  const child = spawn(SERVER_BIN, [`--config-file=${dir}/config.xml`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${http}`;
  for (let i = 0; i < 100; i++) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${url}/ping`], { encoding: 'utf8' });
    if (r.stdout === '200') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
