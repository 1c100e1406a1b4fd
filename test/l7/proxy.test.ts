/**
 * The node proxy on loopback (no netns, no TPROXY: src/l7 with a fixed upstream): real HAProxy, real
 * requests, the maps compiled from generated policy sets, each response compared with what the engine
 * says the client observes (evaluateHttp). Then the runtime: a policy change is a map edit (same worker),
 * a shape change a seamless reload, a killed proxy is back within a second, and every request is a log
 * line that reads back to the same response.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildModel, evaluateHttp } from '../../src/engine/index.js';
import type { HttpRequest, L7Response, PolicyModel } from '../../src/engine/index.js';
import { compileNodeL7 } from '../../src/l7/node-l7.js';
import type { NodeL7 } from '../../src/l7/node-l7.js';
import { observedResponse, parseL7LogLine } from '../../src/l7/log-line.js';
import { L7Proxy } from '../../src/l7/proxy.js';
import { flow } from '../engine/builders.js';
import { A, APPLICATION, B, CLUSTER, policy, policySet, request } from '../support/arbitrary-l7.js';
import { observe, startEcho } from '../support/http-echo.js';
import type { EchoServer } from '../support/http-echo.js';

const haproxy = spawnSync('haproxy', ['-v']).status === 0;
const skip = haproxy ? false : 'haproxy is not installed (scripts/setup.sh installs it)';
const PORT = 18000 + (process.pid % 1000);

/** The maps with the pods' addresses as HAProxy sees them on loopback. */
function onLoopback(l7: NodeL7): NodeL7 {
  return {
    ...l7,
    pairs: l7.pairs
      .filter(([k]) => k.startsWith(`${B.ips[0]}:80/${A.ips[0]}`))
      .map(([, v]) => [`127.0.0.1:${PORT}/127.0.0.1`, v] as const),
  };
}

function compile(model: PolicyModel): NodeL7 {
  return onLoopback(
    compileNodeL7(model, [{ endpoint: 'default/web', ingress: [{ from: 80, to: 80 }], egress: [] }]),
  );
}

describe('the node proxy on loopback', { skip }, () => {
  let dir: string;
  let echo: EchoServer;
  let proxy: L7Proxy;
  const logs: string[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pal-l7-'));
    echo = await startEcho();
    proxy = new L7Proxy({
      dir,
      port: PORT,
      mode: 'policy',
      upstream: `127.0.0.1:${echo.port}`,
      onLog: (l) => logs.push(l),
    });
    await proxy.start();
  });
  after(async () => {
    await proxy?.stop();
    await echo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a client it has no table for is answered 403 (fail closed)', async () => {
    assert.equal(await observe(PORT, { method: 'GET', path: '/', headers: { host: 'x' } }), 'http:403');
  });

  it('property: for generated policy sets, every response is the one the engine computes', async () => {
    const pid = proxy.pid;
    // How the tables of the run were decided (node-l7.ts ids): both the regex scan and the exact cells.
    const kinds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        policySet,
        fc.array(request, { minLength: 4, maxLength: 8 }),
        async (policies, requests) => {
          const model = buildModel(CLUSTER, policies, [APPLICATION]);
          const l7 = compile(model);
          fc.pre(l7.inexact.length === 0);
          for (const [, id] of l7.pairs) for (const k of id.slice(0, 2)) kinds.add(k);
          await proxy.update(l7);
          for (const r of requests) {
            const want = evaluateHttp(model, flow(A, B, 80), r).response;
            // An L3/L4 denial never reaches the proxy: the kernel drops it (tested in the lab).
            if (want === 'dropped') continue;
            const got = await observe(PORT, r);
            assert.equal(got, want, `${r.method} ${r.path} ${JSON.stringify(r.headers)}`);
          }
        },
      ),
      { numRuns: 40, seed: 7 },
    );
    assert.ok(kinds.has('r'), `table kinds seen: ${[...kinds].join(',')}`);
    assert.equal(proxy.pid, pid, 'policy changes are map edits: the same HAProxy master throughout');
    assert.equal(proxy.status().reloads, 0);
  });

  it('tables of literal entries are exact cells, and answer every request as the engine does', async () => {
    const tables: [string, PolicyModel][] = (
      [
        ['envoy-regex', [{ method: 'GET', path: '/public' }, { path: '/api/v1' }, { method: 'PUT' }], 'q'],
        [
          'calico-alp',
          [
            { method: 'GET', path: '^/public$' },
            { method: 'POST', path: '^/api/v1$' },
          ],
          'p',
        ],
        ['antrea-suricata', [{ path: '/public' }, { path: '/api/v1?x=1' }], 'q'],
      ] as const
    ).map(([semantics, l7, kind]) => {
      const model = buildModel(
        CLUSTER,
        [policy(semantics, 'Ingress', 'lit', [{ action: 'Allow', l7 }])],
        [APPLICATION],
      );
      return [kind, model];
    });
    for (const [kind, model] of tables) {
      const l7 = compile(model);
      assert.deepEqual(
        l7.pairs.map(([, id]) => id.slice(0, 2)),
        [`n${kind}`],
      );
      assert.equal(l7.rules.length, 0);
      await proxy.update(l7);
      for (const method of ['GET', 'POST', 'PUT', 'DELETE'])
        for (const path of ['/', '/public', '/public?x=1', '/api/v1', '/api/v1?x=1', '/other']) {
          const r = { method, path, headers: { host: 'web' } };
          assert.equal(
            await observe(PORT, r),
            evaluateHttp(model, flow(A, B, 80), r).response,
            `${kind} ${method} ${path}`,
          );
        }
    }
  });

  it('every request is a log line that reads back to what the client saw', async () => {
    const model = buildModel(
      CLUSTER,
      [
        policy('envoy-regex', 'Ingress', 'l7', [
          { action: 'Allow', l7: [{ method: 'GET', path: '/public' }] },
        ]),
      ],
      [],
    );
    await proxy.update(compile(model));
    logs.length = 0;
    const sent: [HttpRequest, L7Response][] = [];
    for (const r of [
      { method: 'GET', path: '/public', headers: { host: 'web' } },
      { method: 'POST', path: '/public', headers: { host: 'web' } },
      { method: 'POST', path: '/pkg.Svc/Call', headers: { host: 'web', 'content-type': 'application/grpc' } },
    ])
      sent.push([r, await observe(PORT, r)]);
    assert.deepEqual(
      sent.map(([, got]) => got),
      ['forwarded', 'http:403', 'grpc:7'],
    );
    for (let i = 0; i < 50 && logs.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    const parsed = logs.map((l) => parseL7LogLine(l));
    assert.deepEqual(
      parsed.map((l) => (l === undefined ? 'unparsed' : `${l.method} ${l.path} ${observedResponse(l)}`)),
      ['GET /public forwarded', 'POST /public http:403', 'POST /pkg.Svc/Call grpc:7'],
    );
    const denied = parsed[1];
    assert.ok(denied !== undefined && denied.outcome.startsWith('f.'));
  });

  for (const [what, path, kind] of [
    // Literal paths become exact cells (exact-table.ts), regexes stay a first-match scan.
    ['literal', (i: number) => `/api/v1/items/${i}`, 'exact'],
    ['regex', (i: number) => `/api/v1/items/${i}(/.*)?`, 'rules'],
  ] as const) {
    it(`a table of 1000 ${what} HTTP rules is installed whole through the runtime API (chunked under its buffer)`, async () => {
      const rules = Array.from({ length: 1000 }, (_, i) => ({ method: 'GET', path: path(i + 1) }));
      const model = buildModel(
        CLUSTER,
        [policy('envoy-regex', 'Ingress', 'many', [{ action: 'Allow', l7: rules }])],
        [],
      );
      const l7 = compile(model);
      assert.ok(l7[kind].length >= 1000, `${l7[kind].length} ${kind} entries`);
      await proxy.update(l7);
      const get = (p: string, method = 'GET'): Promise<L7Response> =>
        observe(PORT, { method, path: p, headers: { host: 'web' } });
      assert.equal(await get('/api/v1/items/1000'), 'forwarded');
      assert.equal(await get('/api/v1/items/1'), 'forwarded');
      assert.equal(await get('/api/v1/items/1001'), 'http:403');
      assert.equal(await get('/api/v1/items/1000', 'POST'), 'http:403');
      assert.equal(await get('/api/v1/items/1000?x=1'), 'http:403');
    });
  }

  it('a configuration change reloads seamlessly: a new worker, the same master', async () => {
    const model = buildModel(CLUSTER, [], []);
    const l7 = compile(model);
    const pid = proxy.pid;
    await proxy.update({ ...l7, ipv6: true });
    assert.equal(proxy.status().reloads, 1);
    assert.equal(proxy.pid, pid);
    await proxy.update(l7);
    assert.equal(proxy.status().reloads, 2);
  });

  it('a killed proxy is back within a second, with its maps', async () => {
    const model = buildModel(
      CLUSTER,
      [policy('envoy-regex', 'Ingress', 'l7', [{ action: 'Allow', l7: [{ method: 'GET' }] }])],
      [],
    );
    await proxy.update(compile(model));
    const starts = proxy.status().starts;
    const pid = proxy.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
    const t0 = performance.now();
    let back = false;
    while (performance.now() - t0 < 3000) {
      if (proxy.status().starts > starts && proxy.status().running) {
        back =
          (await observe(PORT, { method: 'GET', path: '/', headers: { host: 'web' } }, 500)) === 'forwarded';
        if (back) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    assert.ok(back, 'the proxy came back and enforces its maps');
    assert.ok(ms < 1000, `back after ${Math.round(ms)} ms`);
    assert.equal(await observe(PORT, { method: 'POST', path: '/', headers: { host: 'web' } }), 'http:403');
  });
});
