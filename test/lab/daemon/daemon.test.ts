// What the lab daemon does with each request (src/lab/daemon/daemon.ts), against a fake enforcer: a change
// becomes the lab's state only once enforced, a failed one puts the last good state back, and bad input is
// refused with a typed error before anything is enforced. No root, no kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Lab } from '../../../src/lab/lab.js';
import { LabDaemon } from '../../../src/lab/daemon/daemon.js';
import { LabInputError, prepareLab } from '../../../src/lab/daemon/desired.js';
import type { EnforcedState, Enforcer } from '../../../src/lab/daemon/enforcer.js';
import { policyObjectsOf } from '../../../src/lab/daemon/manifests.js';
import type { ChangeReport, EnforceSummary } from '../../../src/lab/daemon/protocol.js';
import { LabRequestError } from '../../../src/lab/daemon/protocol.js';
import { RequestFailed } from '../../../src/lab/daemon/transport.js';

const CLUSTER = {
  file: 'c.yaml',
  text: `
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
`,
};

const DENY = {
  file: 'deny.yaml',
  text: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
`,
};

class FakeEnforcer implements Enforcer {
  readonly kind = 'agents';
  readonly enforced: EnforcedState[] = [];
  readonly restored: EnforcedState[] = [];
  failNext = false;

  enforce(state: EnforcedState): Promise<EnforceSummary> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('an agent did not apply it'));
    }
    this.enforced.push(state);
    return Promise.resolve({
      datapath: 'nftables',
      enforcer: 'agents',
      revision: 10 + this.enforced.length,
      ms: 1,
      nodes: [],
    });
  }
  restore(state: EnforcedState): Promise<void> {
    this.restored.push(state);
    return Promise.resolve();
  }
  agents(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  endSupervision(): void {
    return;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

function daemon(): { daemon: LabDaemon; enforcer: FakeEnforcer } {
  const prepared = prepareLab([CLUSTER], { id: 'unit', routing: 'native' });
  assert.ok(prepared.ok);
  const enforcer = new FakeEnforcer();
  // Only what the request paths under test read of a running lab.
  const lab = { id: 'unit', plan: prepared.value.plan, pods: prepared.value.plan.pods } as unknown as Lab;
  const d = new LabDaemon({
    id: 'unit',
    lab,
    datapath: 'nftables',
    enforcer,
    initial: { desired: prepared.value.desired, objects: policyObjectsOf([CLUSTER]) },
    log: () => undefined,
  });
  return { daemon: d, enforcer };
}

const labelsOfA = (s: EnforcedState | undefined) =>
  s?.desired.cluster.endpoints.find((e) => e.name === 'a')?.labels;

describe('lab daemon requests', () => {
  it('start enforces the state the lab was built with', async () => {
    const { daemon: d, enforcer } = daemon();
    const summary = await d.start();
    assert.equal(summary.revision, 11);
    assert.deepEqual(labelsOfA(enforcer.enforced[0]), { app: 'a' });
  });

  it('apply enforces the new policy and its objects, and reports the edits', async () => {
    const { daemon: d, enforcer } = daemon();
    await d.start();
    const r = (await d.run({ op: 'apply', sources: [DENY] })) as ChangeReport;
    assert.deepEqual(r.edits, ['created NetworkPolicy x/deny']);
    assert.equal(r.enforce.revision, 12);
    const last = enforcer.enforced.at(-1);
    assert.deepEqual(
      last?.desired.policies.map((p) => p.ref.name),
      ['deny'],
    );
    assert.ok([...(last?.objects.values() ?? [])].length > 0, 'the policy object is kept as written');
  });

  it('a change the enforcer fails puts the last good state back and is not kept', async () => {
    const { daemon: d, enforcer } = daemon();
    await d.start();
    enforcer.failNext = true;
    await assert.rejects(
      d.run({ op: 'label', kind: 'pod', name: 'x/a', changes: [{ key: 'app', value: 'b' }] }),
      /an agent did not apply it/,
    );
    assert.deepEqual(labelsOfA(enforcer.restored[0]), { app: 'a' });
    const r = (await d.run({
      op: 'label',
      kind: 'pod',
      name: 'x/a',
      changes: [{ key: 'team', value: 't' }],
    })) as ChangeReport;
    assert.deepEqual(r.edits, ['Pod x/a labeled team=t']);
    assert.deepEqual(labelsOfA(enforcer.enforced.at(-1)), { app: 'a', team: 't' });
  });

  it('refuses bad input with a typed error before enforcing anything', async () => {
    const { daemon: d, enforcer } = daemon();
    await d.start();
    const before = enforcer.enforced.length;
    await assert.rejects(
      d.run({ op: 'label', kind: 'pod', name: 'x/none', changes: [] }),
      (e: unknown) => e instanceof LabInputError && e.code === 'unknown-pod',
    );
    await assert.rejects(
      d.run({ op: 'apply', sources: [{ file: 'bad.yaml', text: 'kind: NetworkPolicy\nspec: [' }] }),
      (e: unknown) =>
        e instanceof RequestFailed && e.failure.kind === 'usage' && (e.failure.diagnostics?.length ?? 0) > 0,
    );
    await assert.rejects(
      d.run({ op: 'probe', from: ['x/none'], timeoutMs: 100 }),
      (e: unknown) => e instanceof LabRequestError && e.code === 'unknown-pod',
    );
    assert.equal(enforcer.enforced.length, before);
  });
});
