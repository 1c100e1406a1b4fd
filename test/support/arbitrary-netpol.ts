/**
 * fast-check arbitraries for NetworkPolicy objects over the upstream e2e layout (namespaces x, y, z; pods
 * a, b, c; ports 80/81 over TCP, UDP, SCTP). Every generated object is valid, so properties speak about
 * semantics, not validation. Shared by the engine properties and the lab proof.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';

const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

type Obj = Record<string, unknown>;

const podSelector: fc.Arbitrary<Obj> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...PODS).map((p) => ({ matchLabels: { pod: p } })),
  fc
    .subarray([...PODS], { minLength: 1 })
    .chain((values) =>
      fc
        .constantFrom('In', 'NotIn')
        .map((operator) => ({ matchExpressions: [{ key: 'pod', operator, values }] })),
    ),
);

const namespaceSelector: fc.Arbitrary<Obj> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...NAMESPACES).map((n) => ({ matchLabels: { ns: n } })),
  fc.constantFrom(...NAMESPACES).map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
);

/** CIDRs over the lab's pod CIDRs: a node's /24, a single pod, all pods, with optional holes. */
const ipBlock: fc.Arbitrary<Obj> = fc.oneof(
  fc.constantFrom(1, 2, 3).map((n) => ({ cidr: `10.244.${n}.0/24` })),
  fc.constantFrom('10.244.1.11/32', '10.244.2.22/32', '10.244.3.33/32').map((cidr) => ({ cidr })),
  fc.constant({ cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] }),
  fc.constant({ cidr: '10.244.1.0/24', except: ['10.244.1.21/32'] }),
  fc.constant({ cidr: '0.0.0.0/0' }),
);

const peer: fc.Arbitrary<Obj> = fc.oneof(
  podSelector.map((s) => ({ podSelector: s })),
  namespaceSelector.map((s) => ({ namespaceSelector: s })),
  fc.tuple(namespaceSelector, podSelector).map(([n, p]) => ({ namespaceSelector: n, podSelector: p })),
  ipBlock.map((b) => ({ ipBlock: b })),
);

const port: fc.Arbitrary<Obj> = fc.oneof(
  fc.record({ protocol: fc.constantFrom(...PROTOCOLS), port: fc.constantFrom(80, 81) }),
  fc.record({ protocol: fc.constantFrom(...PROTOCOLS) }),
  fc.record({ protocol: fc.constantFrom(...PROTOCOLS), port: fc.constant(80), endPort: fc.constant(81) }),
  fc
    .tuple(fc.constantFrom(...PROTOCOLS), fc.constantFrom(80, 81))
    .map(([p, n]) => ({ protocol: p, port: `serve-${n}-${p.toLowerCase()}` })),
  fc.constant({ port: 80 }),
);

/** A rule: `from`/`to` and `ports` each absent, empty, or a short list. */
function rule(peerKey: 'from' | 'to'): fc.Arbitrary<Obj> {
  return fc
    .record(
      {
        peers: fc.option(fc.array(peer, { maxLength: 2 }), { nil: undefined }),
        ports: fc.option(fc.array(port, { maxLength: 2 }), { nil: undefined }),
      },
      { requiredKeys: [] },
    )
    .map(({ peers, ports }) => ({
      ...(peers !== undefined ? { [peerKey]: peers } : {}),
      ...(ports !== undefined ? { ports } : {}),
    }));
}

export const networkPolicy: fc.Arbitrary<Obj> = fc
  .record({
    namespace: fc.constantFrom(...NAMESPACES),
    podSelector,
    policyTypes: fc.option(fc.subarray(['Ingress', 'Egress'], { minLength: 1 }), { nil: undefined }),
    ingress: fc.option(fc.array(rule('from'), { maxLength: 2 }), { nil: undefined }),
    egress: fc.option(fc.array(rule('to'), { maxLength: 2 }), { nil: undefined }),
  })
  .map((p) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: p.namespace, name: 'placeholder' },
    spec: {
      podSelector: p.podSelector,
      ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}),
      ...(p.ingress ? { ingress: p.ingress } : {}),
      ...(p.egress ? { egress: p.egress } : {}),
    },
  }));

/** A set of policies with unique names, as multi-document YAML text. */
export const policySet: fc.Arbitrary<Obj[]> = fc
  .array(networkPolicy, { minLength: 0, maxLength: 4 })
  .map((ps) => ps.map((p, i) => ({ ...p, metadata: { ...(p.metadata as Obj), name: `p${i}` } })));

export function toYaml(objects: readonly Obj[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}
