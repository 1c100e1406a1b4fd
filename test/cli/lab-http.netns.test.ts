// Needs root, `ip netns`, nft and curl: the lab pods' HTTP echo servers through the real CLI (a lab with its
// own random id): HTTP/1.1, h2c and gRPC from a pod on another node, the client's own address seen by the
// server, and the L3/L4 probe still equal to analyze on ports that now speak HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabStatus } from '../../src/lab/daemon/protocol.js';
import type { EchoBody } from '../../src/lab/echo-server.js';
import { labDown } from '../../src/lab/fabric.js';
import { hasTool, labSkipReason } from '../lab/proof-support.js';
import type { Matrix, Run } from './lab-cli-support.js';
import { assertSameAsAnalyzer, leftovers, ok, palisade } from './lab-cli-support.js';

const skip =
  (await labSkipReason()) || (hasTool('curl') ? false : 'curl is not installed (scripts/setup.sh)');

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec:
  nodeName: n1
  containers: [{name: c, image: i, ports: [{containerPort: 80}, {containerPort: 8080}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec:
  nodeName: n2
  containers: [{name: c, image: i, ports: [{containerPort: 80}, {containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
spec:
  nodeName: n2
  containers: [{name: c, image: i, ports: [{containerPort: 80}, {containerPort: 8080}]}]
`;

describe('lab pods serve HTTP/1.1, h2c and gRPC (CLI, real lab)', { skip }, () => {
  const id = `pal-http-${randomBytes(4).toString('hex')}`;
  let dir = '';
  let ips = new Map<string, string>();
  const lab = (...args: string[]): Run => palisade(['lab', ...args, '--id', id], dir, 120_000);
  const curl = (pod: string, ...args: string[]): string =>
    ok(
      palisade(['lab', 'exec', '--id', id, pod, '--', 'curl', '-sS', '-m', '5', ...args], dir, 60_000),
      'curl',
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-lab-http-'));
    await writeFile(join(dir, 'cluster.yaml'), CLUSTER);
    ok(lab('up', '-f', 'cluster.yaml', '--watch-pid', String(process.pid)), 'lab up');
    const status = JSON.parse(ok(lab('status', '-o', 'json'), 'lab status')) as LabStatus;
    ips = new Map(status.pods.map((p) => [p.pod, p.ip]));
  });
  after(async () => {
    try {
      await labDown({ id });
      assert.deepEqual(await leftovers(id), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const ip = (pod: string): string => {
    const v = ips.get(pod);
    assert.ok(v, `lab status lists ${pod}`);
    return v;
  };

  it('HTTP/1.1 GET to a pod on another node: the JSON echo of x/b, clientIP the client pod', () => {
    const out = curl('x/a', '-H', 'X-Probe: one', `http://${ip('x/b')}:8080/some/path?q=1`);
    const echo = JSON.parse(out) as EchoBody;
    assert.equal(echo.pod, 'x/b');
    assert.equal(echo.method, 'GET');
    assert.equal(echo.path, '/some/path?q=1');
    assert.equal(echo.host, `${ip('x/b')}:8080`);
    assert.equal(echo.headers['x-probe'], 'one');
    assert.equal(echo.clientIP, ip('x/a'), 'the server sees the client pod, not a node or a proxy');
  });

  it('/hostname is the pod name, /clientip the client ip:port', () => {
    assert.equal(curl('x/a', `http://${ip('y/c')}/hostname`), 'c');
    assert.match(curl('x/a', `http://${ip('y/c')}/clientip`), new RegExp(`^${ip('x/a')}:\\d+$`));
  });

  it('h2c with prior knowledge on the same port', () => {
    const out = curl('x/a', '--http2-prior-knowledge', '-D', '-', `http://${ip('x/b')}/h2?x`);
    assert.match(out, /^HTTP\/2 200/);
    const echo = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as EchoBody;
    assert.equal(echo.pod, 'x/b');
    assert.equal(echo.path, '/h2?x');
    assert.equal(echo.clientIP, ip('x/a'));
  });

  it('a gRPC call is answered OK: HTTP/2 200, application/grpc, trailer grpc-status 0', () => {
    const out = curl(
      'y/c',
      '--http2-prior-knowledge',
      '-o',
      '/dev/null',
      '-D',
      '-',
      '-H',
      'content-type: application/grpc',
      '--data-binary',
      '',
      `http://${ip('x/b')}/pkg.Service/Method`,
    );
    assert.match(out, /^HTTP\/2 200/);
    assert.match(out, /^content-type: application\/grpc\r?$/m);
    assert.match(out, /^grpc-status: 0\r?$/m);
  });

  it('the L3/L4 lab probe still equals analyze matrix (TCP ports now speak HTTP; UDP stays)', () => {
    const probe = JSON.parse(ok(lab('probe', '-o', 'json', '--ports', '80,8080'), 'probe')) as Matrix;
    const analyzed = JSON.parse(
      ok(
        palisade(['analyze', 'matrix', '-f', 'cluster.yaml', '-o', 'json', '--ports', '80,8080'], dir),
        'analyze',
      ),
    ) as Matrix;
    assertSameAsAnalyzer(probe, analyzed);
    assert.ok(probe.results.every((c) => c.result === 'ok'));
    const udp = JSON.parse(
      ok(lab('probe', '-o', 'json', '--ports', '53', '--protocols', 'udp', '--to', 'x/a'), 'probe udp'),
    ) as Matrix;
    assert.deepEqual(
      udp.results.map((c) => c.result),
      ['ok', 'ok', 'ok'],
    );
  });

  const analyzeHttp = (...files: string[]): string =>
    ok(
      palisade(
        ['analyze', 'matrix', '--http', 'GET /x?y=1', '-o', 'json', '--ports', '80,8080'].concat(
          files.flatMap((f) => ['-f', f]),
        ),
        dir,
      ),
      'analyze --http',
    );
  const probeHttp = (): string =>
    ok(lab('probe', '--http', 'GET /x?y=1', '-o', 'json', '--ports', '80,8080'), 'probe --http');

  it('lab probe --http with no policy: every cell forwarded, output identical to analyze matrix --http', () => {
    const probed = probeHttp();
    assert.equal(probed, analyzeHttp('cluster.yaml'));
    const m = JSON.parse(probed) as { results: { response: string }[] };
    assert.equal(m.results.length, 2 * 3 * 3);
    assert.ok(m.results.every((c) => c.response === 'forwarded'));
  });

  it('lab probe --http with a gRPC call (HTTP/2): forwarded, identical to analyze matrix --http', () => {
    const call = ['--http', 'POST /pkg.Service/Method', '-H', 'content-type: application/grpc'];
    const probed = ok(lab('probe', ...call, '-o', 'json', '--ports', '80'), 'probe --http grpc');
    const analyzed = ok(
      palisade(['analyze', 'matrix', ...call, '-o', 'json', '--ports', '80', '-f', 'cluster.yaml'], dir),
      'analyze --http grpc',
    );
    assert.equal(probed, analyzed);
    assert.ok(
      (JSON.parse(probed) as { results: { response: string }[] }).results.every(
        (c) => c.response === 'forwarded',
      ),
    );
  });

  it('lab probe --http under an L3/L4 policy: denied cells are dropped, identical to analyze', async () => {
    await writeFile(join(dir, 'deny.yaml'), DENY);
    ok(lab('apply', '-f', 'deny.yaml'), 'apply');
    const probed = probeHttp();
    assert.equal(probed, analyzeHttp('cluster.yaml', 'deny.yaml'));
    const m = JSON.parse(probed) as { results: { from: string; to: string; response: string }[] };
    const dropped = m.results.filter((c) => c.response === 'dropped').map((c) => `${c.from}>${c.to}`);
    assert.deepEqual([...new Set(dropped)], ['y/c>x/a', 'y/c>x/b'], 'y/c may not reach namespace x');
  });
});

const DENY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-from-x, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
`;
