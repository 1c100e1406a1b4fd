/**
 * What `bench l7` builds and enforces, as manifests (pure): a 2-node cluster with a server pod and a client
 * on its node and one on the other node, and the policy of each row. The policies go through the lab's
 * `apply` like any user's (the dialects, the agents, the node proxy), so the benchmark measures that path.
 *
 * The L7 rows carry N generated Cilium HTTP rules `GET /api/v1/items/<i>`, i = 1..N, and the client asks
 * for `/api/v1/items/N`: the last rule, the worst case for a first-match list (Palisade's proxy walks its
 * table in order, node-l7.ts). The paths are anchored regexes (Cilium's meaning), so no earlier rule
 * matches the request by prefix.
 */

export const L7_NAMESPACE = 'pal-bench-l7';
export const SERVER_APP = 'pal-bench-server';
export const CLIENT_APP = 'pal-bench-client';
export const NODES = ['node-a', 'node-b'] as const;
export const POD = { server: 'server', same: 'client-same', cross: 'client-cross' } as const;
export const HTTP_PORT = 80;
/** Policy names: one per kind, so that moving between rows deletes or replaces exactly one object. */
export const POLICY = { l3l4: 'pal-bench-l3l4', l7: 'pal-bench-l7' } as const;
export const MAX_L7_RULES = 10_000;

export type Placement = 'same-node' | 'different-node';
export const PLACEMENTS: readonly Placement[] = ['same-node', 'different-node'];

/** What is enforced while a row is measured. */
export type RowKind = 'none' | 'l3l4' | 'bare' | 'l7';

export interface Row {
  /** `none`, `l3l4`, `bare`, `l7-<N>`. */
  readonly id: string;
  readonly kind: RowKind;
  /** HTTP rules (l7 rows). */
  readonly rules?: number;
}

export function rowsOf(kinds: readonly RowKind[], rules: readonly number[]): Row[] {
  const out: Row[] = [];
  for (const kind of (['none', 'l3l4', 'bare', 'l7'] as const).filter((k) => kinds.includes(k))) {
    if (kind === 'l7') out.push(...rules.map((n) => ({ id: `l7-${n}`, kind, rules: n })));
    else out.push({ id: kind, kind });
  }
  return out;
}

/** The path the clients request in an L7 row with `rules` rules: the last rule's. */
export function requestPath(rules: number | undefined): string {
  return `/api/v1/items/${rules ?? 1}`;
}

const podYaml = (name: string, node: string, app: string): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${L7_NAMESPACE}, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  # No declared port: the lab's own echo server would take it; the benchmark's nginx listens instead.
  containers: [{name: c, image: nginx}]
`;

/** Nodes, the namespace and the three pods. */
export function clusterManifest(): string {
  const nodes = NODES.map(
    (name, i) => `apiVersion: v1
kind: Node
metadata: {name: ${name}}
spec: {podCIDR: 10.244.${i + 1}.0/24}
status: {addresses: [{type: InternalIP, address: 172.18.0.${i + 3}}]}
`,
  );
  return [
    ...nodes,
    `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${L7_NAMESPACE}}\n`,
    podYaml(POD.server, 'node-a', SERVER_APP),
    podYaml(POD.same, 'node-a', CLIENT_APP),
    podYaml(POD.cross, 'node-b', CLIENT_APP),
  ].join('---\n');
}

/** The clients may reach the server on TCP 80 (Kubernetes NetworkPolicy, no L7). */
export function l3l4Manifest(): string {
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${POLICY.l3l4}, namespace: ${L7_NAMESPACE}}
spec:
  podSelector: {matchLabels: {app: ${SERVER_APP}}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: ${CLIENT_APP}}}}]
      ports: [{protocol: TCP, port: ${HTTP_PORT}}]
`;
}

/**
 * `rules` HTTP rules on the server's port 80, the clients' GET matching the last. `variant` (churn) adds
 * one more rule in front, `GET /churn/<variant>`, that the clients never ask for: every variant is a real
 * change of the proxy's tables and every one allows the measured GET.
 */
export function l7Manifest(rules: number, variant?: number): string {
  if (!Number.isInteger(rules) || rules < 1 || rules > MAX_L7_RULES)
    throw new RangeError(`l7Manifest: ${rules} rules (1..${MAX_L7_RULES})`);
  const http = [
    ...(variant === undefined ? [] : [`              - {method: GET, path: /churn/${variant}}`]),
    ...Array.from({ length: rules }, (_, i) => `              - {method: GET, path: ${requestPath(i + 1)}}`),
  ];
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${POLICY.l7}, namespace: ${L7_NAMESPACE}}
spec:
  endpointSelector: {matchLabels: {app: ${SERVER_APP}}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: ${CLIENT_APP}}}]
      toPorts:
        - ports: [{port: "${HTTP_PORT}", protocol: TCP}]
          rules:
            http:
${http.join('\n')}
`;
}

/**
 * The policy a row enforces in its lab; `bare` runs in a lab of its own whose agents forward undecided,
 * with one HTTP rule so that the server's port is steered through the proxy.
 */
export function rowPolicy(row: Row): string | undefined {
  switch (row.kind) {
    case 'none':
      return undefined;
    case 'l3l4':
      return l3l4Manifest();
    case 'bare':
      return l7Manifest(1);
    case 'l7':
      return l7Manifest(row.rules ?? 1);
  }
}
