import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildModel } from '../../src/engine/model.js';
import { peerMisses, selectorText } from '../../src/engine/peer-miss.js';
import { sideOfEndpoint } from '../../src/engine/side.js';
import type { Endpoint, Peer, Selector } from '../../src/ir/index.js';
import { NAMESPACE_NAME_LABEL } from '../../src/ir/index.js';

const client: Endpoint = {
  namespace: 'web',
  name: 'client',
  labels: { role: 'cache' },
  namespaceLabels: { [NAMESPACE_NAME_LABEL]: 'web' },
  ips: ['172.17.1.11'],
  ports: [],
  hostNetwork: false,
};
const eq = (key: string, value: string): Selector => ({
  kind: 'match',
  requirements: [{ key, op: 'In', values: [value] }],
});

describe('peerMisses: why a peer does not cover the other side', () => {
  const cases: { name: string; peer: Peer; want: RegExp }[] = [
    {
      name: 'an address inside an except hole names the hole',
      peer: { kind: 'cidr', cidr: '172.17.0.0/16', except: ['172.17.1.0/24'], matchesPods: true },
      want: /172\.17\.1\.11 is in the except 172\.17\.1\.0\/24/,
    },
    {
      name: 'an address outside the block says so',
      peer: { kind: 'cidr', cidr: '10.0.0.0/24', except: [], matchesPods: true },
      want: /172\.17\.1\.11 is outside 10\.0\.0\.0\/24/,
    },
    {
      name: 'CIDR peers that never match pods (Cilium) say so',
      peer: { kind: 'cidr', cidr: '172.17.0.0/16', except: [], matchesPods: false },
      want: /never match pods/,
    },
    {
      name: 'a namespace selector that misses names the namespace and its labels',
      peer: {
        kind: 'endpoints',
        namespaces: { kind: 'selector', selector: eq('project', 'myproject') },
        pods: { kind: 'match', requirements: [] },
      },
      want: /namespace web \{kubernetes\.io\/metadata\.name=web\} is not selected/,
    },
    {
      name: 'a pod selector that misses shows the pod labels',
      peer: {
        kind: 'endpoints',
        namespaces: { kind: 'names', names: ['web'] },
        pods: eq('role', 'frontend'),
      },
      want: /pods role=frontend\): pod labels \{role=cache\} do not match/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const model = buildModel({ namespaces: [], endpoints: [client], nodes: [] }, [
        {
          ref: { dialect: 'kubernetes', kind: 'NetworkPolicy', namespace: 'web', name: 'p' },
          tier: 'kubernetes',
          priority: 1000,
          subject: {
            namespaces: { kind: 'names', names: ['web'] },
            pods: { kind: 'match', requirements: [] },
          },
          isolates: ['Ingress'],
          ingress: [{ action: 'Allow', index: 0, peers: [c.peer], ports: 'any' }],
          egress: [],
        },
      ]);
      const [line] = peerMisses(model, [c.peer], sideOfEndpoint(model, client));
      assert.match(line ?? '', c.want);
    });
  }

  it('prints selectors the way kubectl does', () => {
    assert.equal(
      selectorText({
        kind: 'match',
        requirements: [
          { key: 'app', op: 'In', values: ['web'] },
          { key: 'tier', op: 'NotIn', values: ['a', 'b'] },
          { key: 'x', op: 'DoesNotExist' },
        ],
      }),
      'app=web,tier notin (a,b),!x',
    );
  });
});
