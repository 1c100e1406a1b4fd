import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFlowPeer } from '../../src/engine/side.js';
import type { FlowPeer } from '../../src/ir/index.js';
import { endpointKey } from '../../src/ir/index.js';
import { cluster, hostNetwork, ips, pod } from './builders.js';

const C = cluster([
  pod('x/a', ips('10.0.0.1')),
  pod('y/a', ips('10.0.0.2', 'fd00::2')),
  pod('x/h', ips('10.0.9.9'), hostNetwork),
]);
const shown = (p: FlowPeer | undefined): string | undefined =>
  p === undefined ? undefined : p.kind === 'endpoint' ? `pod ${endpointKey(p.endpoint)}` : `ip ${p.ip}`;

describe('findFlowPeer', () => {
  const cases: { name: string; text: string; namespace?: string; want: string | undefined }[] = [
    { name: 'NS/POD', text: 'y/a', want: 'pod y/a' },
    { name: 'POD in the given namespace', text: 'a', namespace: 'x', want: 'pod x/a' },
    { name: 'NS/POD ignores the given namespace', text: 'y/a', namespace: 'x', want: 'pod y/a' },
    { name: 'an IP a pod owns is that pod', text: '10.0.0.2', want: 'pod y/a' },
    { name: 'an IPv6 address, written another way, is canonicalised', text: 'fd00:0::2', want: 'pod y/a' },
    { name: "a host-network pod's IP is a bare address", text: '10.0.9.9', want: 'ip 10.0.9.9' },
    { name: 'an IP nobody owns is a bare address', text: '192.0.2.1', want: 'ip 192.0.2.1' },
    { name: 'no such pod', text: 'nope', namespace: 'x', want: undefined },
    { name: 'no such pod in that namespace', text: 'a', namespace: 'z', want: undefined },
  ];
  for (const c of cases)
    it(c.name, () => assert.equal(shown(findFlowPeer(C, c.text, c.namespace ?? 'default')), c.want));
});
