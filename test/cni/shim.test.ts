/**
 * The fast path without root: the C shim forwards environment and stdin to the server and relays its
 * exit code, stdout and stderr byte for byte; answers VERSION itself; and without a server either execs
 * the fallback or fails closed with code 11 in the config's version. Also the wire format and the routed
 * wiring's `ip -batch` lines.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execPlugin } from '../../src/cni/exec.js';
import { NODE_ENTRY } from '../../src/cni/install.js';
import { buildShim } from '../support/native.js';
import { containerLines, hostLines } from '../../src/cni/kernel/routed.js';
import { runPlugin } from '../../src/cni/plugin.js';
import type { CniServer } from '../../src/cni/server.js';
import { decodeRequest, encodeReply, startCniServer } from '../../src/cni/server.js';

const skip = spawnSync('cc', ['--version']).status === 0 ? undefined : 'no C compiler';
const BAD_ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'a/b',
  CNI_NETNS: '/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/x',
};
const CONF = JSON.stringify({
  cniVersion: '0.4.0',
  name: 'pal-net',
  type: 'palisade',
  ipam: { type: 'palisade', subnet: '10.0.0.0/24' },
});

describe('the C shim and the CNI server', { skip }, () => {
  let dir = '';
  let shim = '';
  let server: CniServer | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-shim-'));
    shim = await buildShim();
    server = await startCniServer(join(dir, 'cni.sock'));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('relays exactly what the in-process plugin prints', async () => {
    const direct = await runPlugin(BAD_ENV, CONF);
    const viaShim = await execPlugin(shim, { ...BAD_ENV, PALISADE_CNI_SOCKET: join(dir, 'cni.sock') }, CONF);
    assert.equal(viaShim.exitCode, direct.exitCode);
    assert.equal(viaShim.stdout, direct.stdout);
    assert.equal((JSON.parse(viaShim.stdout) as { code: number }).code, 4);
  });

  it('answers VERSION itself, in the version asked (SPEC.md "VERSION Success"), as the Node entry does', async () => {
    const requests = ['', '{"cniVersion":"0.3.1"}', '{"cniVersion": "1.0.0"}', '{"cniVersion":"1.0.0-rc1"}'];
    const answers: string[] = [];
    for (const stdin of requests) {
      const env = { CNI_COMMAND: 'VERSION', PALISADE_CNI_SOCKET: '/nonexistent' };
      const out = await execPlugin(shim, env, stdin);
      assert.equal(out.exitCode, 0);
      const answer = JSON.parse(out.stdout) as { cniVersion: string };
      assert.deepEqual(
        answer,
        JSON.parse((await runPlugin({ CNI_COMMAND: 'VERSION' }, stdin)).stdout),
        stdin,
      );
      answers.push(answer.cniVersion);
    }
    assert.deepEqual(answers, ['1.1.0', '0.3.1', '1.0.0', '1.1.0']);
  });

  it('fails closed with code 11 in the config version when no server listens', async () => {
    const out = await execPlugin(shim, { ...BAD_ENV, PALISADE_CNI_SOCKET: join(dir, 'none.sock') }, CONF);
    assert.equal(out.exitCode, 1);
    const e = JSON.parse(out.stdout) as { cniVersion: string; code: number; details: string };
    assert.equal(e.code, 11);
    assert.equal(e.cniVersion, '0.4.0');
    assert.match(e.details, /none\.sock/);
  });

  it('execs the fallback when told to and no server listens', async () => {
    const env = {
      ...BAD_ENV,
      PATH: process.env['PATH'] ?? '',
      PALISADE_CNI_SOCKET: join(dir, 'none.sock'),
      PALISADE_CNI_FALLBACK: NODE_ENTRY,
    };
    spawnSync('chmod', ['+x', NODE_ENTRY]);
    const out = await execPlugin(shim, env, CONF);
    assert.equal((JSON.parse(out.stdout) as { code: number }).code, 4);
  });

  it('without PALISADE_CNI_FALLBACK, execs palisade-node installed beside it (as the DaemonSet does)', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await copyFile(shim, join(bin, 'palisade'));
    await chmod(join(bin, 'palisade'), 0o755);
    await writeFile(join(bin, 'palisade-node'), `#!/bin/sh\nexec ${process.execPath} ${NODE_ENTRY}\n`);
    await chmod(join(bin, 'palisade-node'), 0o755);
    const env = { ...BAD_ENV, PATH: process.env['PATH'] ?? '', PALISADE_CNI_SOCKET: join(dir, 'none.sock') };
    const out = await execPlugin(join(bin, 'palisade'), env, CONF);
    assert.equal(
      (JSON.parse(out.stdout) as { code: number }).code,
      4,
      "the Node entry's answer, not code 11",
    );
  });
});

describe('wire format and routed wiring (pure)', () => {
  it('a request round-trips', () => {
    const buf = Buffer.concat([
      Buffer.from('PALCNI1\nCNI_COMMAND=ADD\0CNI_ARGS=A=B;C=D\0\0'),
      Buffer.from('{"x":1}'),
    ]);
    assert.deepEqual(decodeRequest(buf), {
      vars: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=B;C=D' },
      stdin: '{"x":1}',
    });
    assert.equal(decodeRequest(Buffer.from('nope')), undefined);
    assert.equal(encodeReply({ exitCode: 1, stdout: 'é', stderr: 'x' }).toString(), '1 2 1\néx');
  });

  it('renders the lab wiring: veth with fixed MACs, /32 host route, link-local gateway, permanent neighbours', () => {
    const plan = {
      hostIf: 'pal0123456789ab',
      hostMac: '02:00:00:00:00:01',
      ifname: 'eth0',
      podMac: '02:00:00:00:00:02',
      netnsPath: '/run/netns/p',
      mtu: 1450,
      ips: ['10.1.0.5', 'fd00::5'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    };
    assert.deepEqual(hostLines(plan), [
      'link add pal0123456789ab address 02:00:00:00:00:01 mtu 1450 type veth peer name eth0 address 02:00:00:00:00:02 mtu 1450 netns /run/netns/p',
      'link set pal0123456789ab up',
      'route add 10.1.0.5/32 dev pal0123456789ab scope link',
      'neigh add 10.1.0.5 lladdr 02:00:00:00:00:02 dev pal0123456789ab nud permanent',
      'route add fd00::5/128 dev pal0123456789ab scope link',
      'neigh add fd00::5 lladdr 02:00:00:00:00:02 dev pal0123456789ab nud permanent',
    ]);
    assert.deepEqual(containerLines(plan), [
      'link set lo up',
      'addr add 10.1.0.5/32 dev eth0',
      'addr add fd00::5/128 dev eth0 nodad',
      'link set eth0 up',
      'route add 169.254.1.1/32 dev eth0 scope link',
      'neigh add 169.254.1.1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent',
      'neigh add fe80::1 lladdr 02:00:00:00:00:01 dev eth0 nud permanent',
      'route add default via 169.254.1.1 dev eth0',
      'route add default via fe80::1 dev eth0',
    ]);
  });
});
