import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attributeFlow, parseKernelPrefix } from '../../../src/agent/index.js';
import type { FlowRecord, KernelFlow } from '../../../src/agent/index.js';
import { A, B, C, context, flow } from './support.js';

const OPTS = { denyGroup: 101 };

describe('attributeFlow', () => {
  const all = context('all');

  it('allowed by a rule: ct-new attributed to the allowing policy and rule, ingress of the destination', () => {
    const r = attributeFlow(flow({ source: 'ct-new' }), all, OPTS);
    assert.equal(r.verdict, 'allowed');
    assert.equal(r.type, 'verdict');
    assert.equal(r.direction, 'ingress');
    assert.equal(r.attribution, 'engine');
    assert.deepEqual(r.source, { ip: B, port: 40000, namespace: 'pal', pod: 'b', labels: { app: 'b' } });
    assert.deepEqual(r.destination, { ip: A, port: 80, namespace: 'pal', pod: 'a', labels: { app: 'a' } });
    assert.equal(r.protocol, 'TCP');
    assert.deepEqual(r.policy, {
      tier: 'kubernetes',
      dialect: 'kubernetes',
      kind: 'NetworkPolicy',
      namespace: 'pal',
      name: 'allow-b-to-a',
      rule: 0,
      action: 'Allow',
    });
    assert.match(
      r.reason,
      /ingress of pal\/a: rule 0 \(Allow\) of NetworkPolicy pal\/allow-b-to-a .* TCP\/80 from pal\/b → allowed/,
    );
    assert.equal(r.time, '2030-01-02T03:04:05.000Z');
    assert.deepEqual(r.kernel, { source: 'ct-new' });
  });

  it('denied by a named Deny rule: the policy, rule index and name, and the kernel prefix kept', () => {
    const prefix = 'pal deny I admin AdminNetworkPolicy//no-81';
    const r = attributeFlow(flow({ source: 'nflog', group: 101, prefix, dport: 81 }), all, OPTS);
    assert.equal(r.verdict, 'denied');
    assert.equal(r.action, 'Deny');
    assert.equal(r.direction, 'ingress');
    assert.equal(r.attribution, 'engine');
    assert.equal(r.policy?.kind, 'AdminNetworkPolicy');
    assert.equal(r.policy?.name, 'no-81');
    assert.equal(r.policy?.rule, 0);
    assert.equal(r.policy?.ruleName, 'block-81');
    assert.equal(r.policy?.action, 'Deny');
    assert.equal(r.kernel.prefix, prefix);
    assert.match(
      r.reason,
      /rule 0 "block-81" \(Deny\) of AdminNetworkPolicy no-81 .* TCP\/81 from pal\/b → denied/,
    );
  });

  it('isolation default deny: names the isolating policy and says no rule allowed', () => {
    const prefix = 'pal isolated I kubernetes';
    const r = attributeFlow(flow({ source: 'nflog', group: 101, prefix, dport: 8080 }), all, OPTS);
    assert.equal(r.verdict, 'denied');
    assert.equal(r.attribution, 'engine');
    // Both policies select a for ingress, so both isolate it; the first in evaluation order is named.
    assert.equal(r.policy?.name, 'allow-b-to-a');
    assert.equal(r.policy?.rule, undefined, 'no rule decided');
    assert.match(
      r.reason,
      /isolated by NetworkPolicy pal\/allow-b-to-a, NetworkPolicy pal\/default-deny in tier kubernetes and no rule allows TCP\/8080 from pal\/b → denied \(default deny\)/,
    );
    const only = attributeFlow(
      flow({ source: 'nflog', group: 101, prefix, dport: 80 }),
      context('deny-all-only'),
      OPTS,
    );
    assert.equal(only.policy?.name, 'default-deny');
  });

  it('no policy: default allow, said so', () => {
    const r = attributeFlow(flow({ source: 'ct-new', dport: 9999 }), context('none'), OPTS);
    assert.equal(r.verdict, 'allowed');
    assert.equal(r.policy, undefined);
    assert.equal(r.attribution, 'engine');
    assert.match(r.reason, /no policy selects it \(Ingress\) → allowed by default/);
  });

  it("a remote source: only the local destination's ingress counts", () => {
    const r = attributeFlow(
      flow({ source: 'nflog', group: 101, src: C, prefix: 'pal isolated I kubernetes', dport: 22 }),
      all,
      OPTS,
    );
    assert.equal(r.direction, 'ingress');
    assert.equal(r.source.pod, 'c');
    assert.equal(r.attribution, 'engine');
  });

  it('kernel and model disagree: the kernel verdict is kept, flagged stale, no policy claimed', () => {
    // The kernel allowed b → a:81, but the applied model denies it (e.g. a policy added since).
    const r = attributeFlow(flow({ source: 'ct-new', dport: 81 }), all, OPTS);
    assert.equal(r.verdict, 'allowed');
    assert.equal(r.attribution, 'stale');
    assert.equal(r.policy, undefined);
    assert.match(r.reason, /^kernel allowed but the applied model says denied: .*block-81/);
  });

  it('before the first apply and for ICMP: the kernel verdict, with why there is no attribution', () => {
    const early = attributeFlow(
      flow({ source: 'nflog', group: 101, prefix: 'pal deny I kubernetes x' }),
      undefined,
      OPTS,
    );
    assert.equal(early.verdict, 'denied');
    assert.equal(early.attribution, 'none');
    assert.match(early.reason, /no policy model applied yet \(kernel: pal deny I kubernetes x\)/);
    const icmp: KernelFlow = {
      kind: 'flow',
      source: 'ct-new',
      family: 4,
      src: B,
      dst: A,
      proto: 1,
      icmpType: 8,
      icmpCode: 0,
      ts: 0,
    };
    const r: FlowRecord = attributeFlow(icmp, all, OPTS);
    assert.equal(r.protocol, 'ICMP');
    assert.deepEqual(r.icmp, { type: 8, code: 0 });
    assert.equal(r.attribution, 'none');
  });

  it('a connection the node itself opened: allowed, labelled, not judged', () => {
    const r = attributeFlow(
      flow({ source: 'ct-new', src: '10.77.0.1', dport: 81, fromHost: true }),
      all,
      OPTS,
    );
    assert.equal(r.verdict, 'allowed');
    assert.equal(r.attribution, 'none');
    assert.match(r.reason, /opened by node n1 itself \(10\.77\.0\.1\)/);
  });

  it('parses the kernel prefixes nftables.ts writes', () => {
    assert.deepEqual(parseKernelPrefix('pal deny E admin AdminNetworkPolicy//x+2'), {
      tag: 'deny',
      direction: 'Egress',
      tier: 'admin',
      policy: 'AdminNetworkPolicy//x+2',
    });
    assert.deepEqual(parseKernelPrefix('pal isolated I kubernetes'), {
      tag: 'isolated',
      direction: 'Ingress',
      tier: 'kubernetes',
    });
    assert.equal(parseKernelPrefix('something else'), undefined);
  });
});
