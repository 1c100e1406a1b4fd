import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointRegistry } from '../../src/agent/endpoints-registry.js';
import { reconcile } from '../../src/agent/index.js';
import { Registrar } from '../../src/agent/registration.js';
import type { EndpointRecord } from '../../src/cni/endpoints.js';
import { DENY_ALL, NAMESPACE, NODE, json, pod } from './support.js';

/** A pod of the datastore as the API server has it before kubelet wrote its IP. */
function unaddressed(name: string, node = NODE): Record<string, unknown> {
  const p = pod(name, '10.0.0.1') as { spec: Record<string, unknown> };
  return { ...p, spec: { ...p.spec, nodeName: node }, status: {} };
}

function record(name: string, ip: string, containerId = `c-${name}`): EndpointRecord {
  return {
    version: 1,
    network: 'net',
    containerId,
    ifname: 'eth0',
    netns: '/run/netns/x',
    mode: 'routed',
    state: 'ready',
    ips: [ip],
    pod: { namespace: 'pal', name },
    createdAt: '2025-01-01T00:00:00Z',
  };
}

/**
 * A registrar wired to a simulated agent: every requested sync reconciles the current datastore objects
 * with the registry (the real pure core) and reports the apply, as Agent.syncOnce does.
 */
function harness(objects: Record<string, unknown>[], waitMs = 200) {
  const registry = new EndpointRegistry();
  const desired = new Map<string, string>(objects.map((o, i) => [`o${i}.json`, json(o)]));
  let generation = 0;
  let syncs = 0;
  let lastTable: ReturnType<typeof reconcile>['table'] | undefined;
  const sync = (): void => {
    syncs += 1;
    const r = reconcile(desired, new Map(), { node: NODE, registered: registrar.registered() });
    lastTable = r.table;
    registrar.onApplied({
      model: r.model,
      rules: r.rules,
      changed: true,
      generation: ++generation,
    });
  };
  const registrar: Registrar = new Registrar({
    node: NODE,
    registry,
    waitMs,
    log: () => undefined,
    requestSync: () => setImmediate(sync),
    lastError: () => undefined,
    state: () => 'ready',
  });
  const never = new Promise<void>(() => undefined);
  return {
    registry,
    registrar,
    desired,
    sync,
    syncs: () => syncs,
    /** Elements of the ingress dispatch map the last sync compiled: IP → the pod's chain. */
    dispatch: () => lastTable?.maps.find((m) => m.name === 'ingress_dispatch')?.elements ?? [],
    add: (r: EndpointRecord, closed: Promise<void> = never) =>
      registrar.handle({ type: 'endpoint-added', version: 1, endpoint: r }, closed),
  };
}

describe('endpoint registration (agent side of the CNI protocol)', () => {
  it('answers ok once a sync put the registered IP into the pod rules, before the datastore has it', async () => {
    const h = harness([NAMESPACE, unaddressed('a'), DENY_ALL]);
    assert.deepEqual(await h.add(record('a', '10.9.0.7')), { ok: true });
    assert.deepEqual(
      h.dispatch().map(([ip]) => ip),
      ['10.9.0.7'],
    );
    assert.deepEqual([...h.registry.ipsByPod()], [['pal/a', ['10.9.0.7']]]);
  });

  it('refuses a pod the datastore does not know after the wait, and forgets its IP', async () => {
    const h = harness([NAMESPACE, DENY_ALL], 150);
    const reply = await h.add(record('ghost', '10.9.0.8'));
    assert.equal(reply.ok, false);
    assert.match(String(reply.ok ? '' : reply.reason), /pod pal\/ghost unknown to the agent's datastore/);
    assert.equal(h.registry.size, 0);
  });

  it('waits for a pod that shows up in the datastore during the wait', async () => {
    const h = harness([NAMESPACE, DENY_ALL], 5000);
    let answered = false;
    const reply = h.add(record('late', '10.9.0.9')).finally(() => (answered = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false, 'no answer while the pod is unknown');
    h.desired.set('late.json', json(unaddressed('late')));
    h.sync(); // what the datastore's new snapshot makes the agent do
    assert.deepEqual(await reply, { ok: true });
  });

  it('refuses at once a pod scheduled on another node, or without a pod identity', async () => {
    const h = harness([NAMESPACE, unaddressed('b', 'n2')], 10_000);
    const started = Date.now();
    const reply = await h.add(record('b', '10.9.0.10'));
    assert.equal(reply.ok, false);
    assert.match(String(reply.ok ? '' : reply.reason), /scheduled on node n2, not on n1/);
    assert.ok(Date.now() - started < 5000, 'did not wait for the deadline');
    const { pod: _pod, ...anonymous } = record('b', '10.9.0.11');
    void _pod;
    const r2 = await h.add(anonymous);
    assert.match(String(r2.ok ? '' : r2.reason), /names no pod.*K8S_POD_NAMESPACE/);
  });

  it('drops the registration when the plugin hangs up before the answer', async () => {
    const h = harness([NAMESPACE, DENY_ALL], 10_000);
    let hangUp = (): void => undefined;
    const closed = new Promise<void>((r) => (hangUp = r));
    const reply = h.add(record('ghost', '10.9.0.12'), closed);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(h.registry.size, 1);
    hangUp();
    assert.equal((await reply).ok, false);
    assert.equal(h.registry.size, 0);
  });

  it('endpoint-removed forgets the attachment and syncs; ping answers; junk is refused', async () => {
    const h = harness([NAMESPACE, unaddressed('a')]);
    await h.add(record('a', '10.9.0.7'));
    const before = h.syncs();
    const never = new Promise<void>(() => undefined);
    assert.deepEqual(
      await h.registrar.handle(
        { type: 'endpoint-removed', version: 1, network: 'net', containerId: 'c-a', ifname: 'eth0' },
        never,
      ),
      { ok: true },
    );
    assert.equal(h.registry.size, 0);
    await new Promise((r) => setImmediate(r));
    assert.ok(h.syncs() > before);
    assert.deepEqual(await h.registrar.handle({ type: 'ping', version: 1 }, never), {
      ok: true,
      node: NODE,
      state: 'ready',
    });
    assert.equal((await h.registrar.handle({ type: 'nope' }, never)).ok, false);
    assert.equal((await h.registrar.handle('junk', never)).ok, false);
  });
});
