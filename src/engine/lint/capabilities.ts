/**
 * What each target enforces, as data. One fact per construct, each with the source it comes from, so a
 * finding can say why Palisade believes it. Papers are under ../shared/papers (paths below); "git" sources
 * were read in the project's own repository history (tag that first contains the change).
 */
import type { Target } from './types.js';

/**
 * - yes: enforced as written;
 * - no: not enforced (the lint rules say what happens to traffic instead);
 * - conditional: enforced only from a version, with a feature gate or in an edition (`note` says which).
 */
export type Support = 'yes' | 'no' | 'conditional';

export interface Fact {
  readonly support: Support;
  /** The condition of a conditional fact, or what a "no" does instead. */
  readonly note?: string;
  readonly source: string;
}

/** Policy kinds as PolicyRef spells them: `${dialect}/${kind}`. */
export type PolicyKind =
  | 'kubernetes/NetworkPolicy'
  | 'calico/NetworkPolicy'
  | 'calico/GlobalNetworkPolicy'
  | 'cilium/CiliumNetworkPolicy'
  | 'cilium/CiliumClusterwideNetworkPolicy'
  | 'antrea/AntreaNetworkPolicy'
  | 'antrea/AntreaClusterNetworkPolicy'
  | 'admin-network-policy/AdminNetworkPolicy'
  | 'admin-network-policy/BaselineAdminNetworkPolicy'
  | 'cluster-network-policy/ClusterNetworkPolicy';

export type L7Kind = 'http' | 'kafka' | 'dns' | 'other';

export interface Capabilities {
  readonly target: Target;
  /** Product name for messages. */
  readonly title: string;
  /** Whether the target enforces any network policy at all. */
  readonly enforcement: Fact;
  /** Which policy kinds the target reads; a kind missing here is not read. */
  readonly kinds: Partial<Readonly<Record<PolicyKind, Fact>>>;
  /** Kubernetes NetworkPolicy features. */
  readonly egress: Fact;
  readonly endPort: Fact;
  readonly namedPorts: Fact;
  readonly sctp: Fact;
  /** Whether an ipBlock also matches pod IPs (the Kubernetes e2e suite expects it to). */
  readonly ipBlockMatchesPods: Fact;
  /** In the target's own policy language. */
  readonly l7: Readonly<Record<L7Kind, Fact>>;
  readonly fqdn: Fact;
  /** Cilium's leading `**.` in matchPattern, where the target has the construct at all. */
  readonly fqdnMultiLabelPrefix?: Fact;
  readonly deny: Fact;
  readonly reject: Fact;
  readonly pass: Fact;
  /** Ordered evaluation (priorities, tiers) instead of a union of allows. */
  readonly ordering: Fact;
  /** Tiers in the target's own dialect. */
  readonly tiers: Fact;
  /** Kubernetes NetworkPolicy observed to be enforced before the target's own (admin) policy. */
  readonly kubernetesFirst: Fact;
}

const KIM = 'Kim et al. 2025, papers/kim-2025-cni-network-policies.txt';
const KR = 'papers/network-policy-enforcement-kr.txt';
const QI = 'Qi et al. 2021, papers/qi-2021-assessing-cni-plugins.txt, Table I';
const NO_KIND = 'a CNI reads only its own CRDs and networking.k8s.io NetworkPolicy';
const NPAPI =
  'network-policy-api.sigs.k8s.io: AdminNetworkPolicy/ClusterNetworkPolicy are CRDs a CNI must implement';

const CILIUM_NO_ANP =
  'cilium/cilium#23380 (CFP: "the difficult part here is the priority-based policies"); ' +
  'cilium/design-cfps#83 (ClusterNetworkPolicy evaluation order, a design)';

const yes = (source: string): Fact => ({ support: 'yes', source });
const no = (source: string): Fact => ({ support: 'no', source });
/** Not enforced, and `note` says what happens instead. */
const noBecause = (note: string, source: string): Fact => ({ support: 'no', note, source });
const when = (note: string, source: string): Fact => ({ support: 'conditional', note, source });

/** Kubernetes NetworkPolicy has no explicit deny: allows plus isolation (KR paper §5.1, Kim Table 3). */
const NP_ONLY_ACTIONS = {
  deny: no(`${KR} §5.1 (NetworkPolicy specifies allowed traffic only)`),
  reject: no(`${KR} §5.1`),
  pass: no(`${KIM} Table 3`),
  ordering: no(`${KIM} Table 3 (Priority: No)`),
  tiers: no(`${KIM} Table 3 (Priority: No)`),
};

const NO_L7: Readonly<Record<L7Kind, Fact>> = {
  http: no(`${KIM} Table 3 (L7: No); ${KR} (L3/L4 only)`),
  kafka: no(`${KIM} Table 3 (L7: No)`),
  dns: no(`${KR} §4.2.3-4.2.4 (FQDN policies not supported)`),
  other: no(`${KIM} Table 3 (L7: No)`),
};

const UPSTREAM_NP: Pick<Capabilities, 'egress' | 'endPort' | 'namedPorts' | 'sctp' | 'ipBlockMatchesPods'> = {
  egress: yes('kubernetes.io NetworkPolicy (networking.k8s.io/v1)'),
  endPort: yes('kubernetes.io NetworkPolicy, endPort GA in 1.25 (kubernetes/kubernetes#110868)'),
  namedPorts: yes('kubernetes.io NetworkPolicy'),
  sctp: yes('kubernetes.io NetworkPolicy (SCTP GA in 1.20)'),
  ipBlockMatchesPods: yes('Kubernetes e2e network policy suite (ipBlock matching pod IPs)'),
};

export const CAPABILITIES: Readonly<Record<Target, Capabilities>> = {
  flannel: {
    target: 'flannel',
    title: 'Flannel',
    enforcement: no(
      `${QI} (Network Policies: No/No; "does not implement the network policy controller"); ${KIM} Table 2`,
    ),
    kinds: {},
    egress: no(QI),
    endPort: no(QI),
    namedPorts: no(QI),
    sctp: no(QI),
    ipBlockMatchesPods: no(QI),
    l7: NO_L7,
    fqdn: no(`${KIM} Table 3`),
    ...NP_ONLY_ACTIONS,
    kubernetesFirst: no(QI),
  },

  kubernetes: {
    target: 'kubernetes',
    title: 'Kubernetes (NetworkPolicy only)',
    enforcement: yes('kubernetes.io NetworkPolicy (needs a network plugin that implements it)'),
    kinds: { 'kubernetes/NetworkPolicy': yes('kubernetes.io NetworkPolicy') },
    ...UPSTREAM_NP,
    l7: NO_L7,
    fqdn: no('kubernetes.io NetworkPolicy ("What you can\'t do": no FQDN)'),
    ...NP_ONLY_ACTIONS,
    kubernetesFirst: no('no other policy kind'),
  },

  'kube-router': {
    target: 'kube-router',
    title: 'kube-router',
    enforcement: yes(`${QI}; ${KIM} Table 2`),
    kinds: {
      'kubernetes/NetworkPolicy': yes(`${QI} ("only supports the standard Kubernetes Network Policy")`),
    },
    egress: when(
      'egress rules since v0.0.18 (cloudnativelabs/kube-router#186); pod egress through the OUTPUT/INPUT chains ' +
        '(to node IPs, host-network services) is enforced only since v1.0.0 (#875, #891); Qi et al. 2021 and the ' +
        'KR paper report kube-router as ingress-only',
      `git cloudnativelabs/kube-router (45cb0873 in v0.0.18; 361d6feb in v1.0.0); ${QI} (Egress: No); ${KR} §4.2.4`,
    ),
    endPort: when('kube-router v1.3.0 or later', 'git cloudnativelabs/kube-router#1080 (first in v1.3.0)'),
    namedPorts: when('kube-router v0.3.0 or later', 'git cloudnativelabs/kube-router#679 (first in v0.3.0)'),
    sctp: when(
      'kube-router v2.8.0 or later (feature request cloudnativelabs/kube-router#1019 before that)',
      'git cloudnativelabs/kube-router 39efb923 "feat: add support for SCTP" (first in v2.8.0)',
    ),
    ipBlockMatchesPods: yes('kube-router matches ipBlocks with ipsets of addresses (docs/how-it-works.md)'),
    l7: NO_L7,
    fqdn: no(`${KR} §4.2.4`),
    ...NP_ONLY_ACTIONS,
    kubernetesFirst: no('no other policy kind'),
  },

  weave: {
    target: 'weave',
    title: 'Weave Net',
    enforcement: yes(`${QI}; ${KIM} Table 2`),
    kinds: {
      'kubernetes/NetworkPolicy': yes(`${QI} ("can only configure the standard Kubernetes Network Policy")`),
    },
    egress: yes(
      `${QI} (Ingress/Egress: Yes/Yes); ${KR} Table 2; git weaveworks/weave f51347fe (egress, first in v2.1.0)`,
    ),
    endPort: noBecause(
      'weave-npc is built against k8s.io/api v0.18.6 (go.mod of the last release, v2.8.1; repository archived ' +
        '2024), which predates endPort: only `port` is enforced',
      'git weaveworks/weave go.mod; kubernetes/kubernetes#110868 release note',
    ),
    namedPorts: noBecause(
      'weave-npc rejects a policy with a named port ("named ports in network policies is not supported yet. ' +
        'Rejecting network policy ... from further processing")',
      'git weaveworks/weave npc/analyser.go; weaveworks/weave#3032 (open)',
    ),
    sctp: yes('weave-npc passes the protocol to iptables unchanged (npc/analyser.go `proto`)'),
    ipBlockMatchesPods: yes('weave-npc matches ipBlocks with ipsets of addresses'),
    l7: NO_L7,
    fqdn: no(`${KR} §4.2.3 (no FQDN-based policy)`),
    ...NP_ONLY_ACTIONS,
    kubernetesFirst: no('no other policy kind'),
  },

  calico: {
    target: 'calico',
    title: 'Calico (open source)',
    enforcement: yes(`${KIM} Table 2`),
    kinds: {
      'kubernetes/NetworkPolicy': yes(`${KIM} Table 3`),
      'calico/NetworkPolicy': yes(`${KIM} Table 3`),
      'calico/GlobalNetworkPolicy': yes(`${KIM} Table 3`),
      'admin-network-policy/AdminNetworkPolicy': when(
        'Calico 3.29 or later (docs for later releases describe ClusterNetworkPolicy in the kube-admin tier ' +
          'instead, tigera/docs#2416: check that your release still reads v1alpha1)',
        'Calico Open Source 3.29 release notes ("support for the AdminNetworkPolicy resource")',
      ),
      'admin-network-policy/BaselineAdminNetworkPolicy': when(
        'Calico 3.30 or later',
        'Calico Open Source 3.30 release notes ("Add support for Kubernetes BaselineAdminNetworkPolicy", calico#9464)',
      ),
      'cluster-network-policy/ClusterNetworkPolicy': when(
        'recent Calico only (kube-admin / kube-baseline tiers)',
        'tigera/docs#2416 (ClusterNetworkPolicy documentation, Nov 2025)',
      ),
    },
    ...UPSTREAM_NP,
    sctp: yes('projectcalico/libcalico-go#1182 (SCTP ports in policy)'),
    l7: {
      http: when(
        'HTTP match needs application layer policy with Istio (Dikastes sidecar), ingress only; Kim et al. ' +
          'list Calico L7 as Enterprise-only',
        `docs.tigera.io/calico/latest/network-policy/istio/http-methods; ${KIM} §IV-B`,
      ),
      kafka: no(`${KIM} Table 3 (Calico L7: HTTP)`),
      dns: no(
        'docs.tigera.io/calico-enterprise/latest/network-policy/domain-based-policy (Enterprise/Cloud only)',
      ),
      other: no(`${KIM} Table 3 (Calico L7: HTTP)`),
    },
    fqdn: no(
      'docs.tigera.io/calico-enterprise/latest/network-policy/domain-based-policy (Enterprise/Cloud only)',
    ),
    deny: yes(`${KIM} Table 3 (Allow, Deny, Log, Pass)`),
    reject: no(`${KIM} Table 3 (Allow, Deny, Log, Pass); Calico Rule reference (action enum)`),
    pass: yes(`${KIM} Table 3`),
    ordering: yes(`${KIM} Table 3 (Priority: Order)`),
    tiers: when(
      'Calico Open Source 3.29 or later (earlier: Calico Enterprise)',
      'Calico Open Source 3.29 release notes ("Tiered network policy")',
    ),
    kubernetesFirst: yes(`${KIM} §IV-D (Kubernetes policy enforced before Calico policy)`),
  },

  cilium: {
    target: 'cilium',
    title: 'Cilium',
    enforcement: yes(`${KIM} Table 2`),
    kinds: {
      'kubernetes/NetworkPolicy': yes(`${KIM} Table 3`),
      'cilium/CiliumNetworkPolicy': yes(`${KIM} Table 3`),
      'cilium/CiliumClusterwideNetworkPolicy': yes(`${KIM} Table 3`),
      'admin-network-policy/AdminNetworkPolicy': no(CILIUM_NO_ANP),
      'admin-network-policy/BaselineAdminNetworkPolicy': no(CILIUM_NO_ANP),
      'cluster-network-policy/ClusterNetworkPolicy': no(CILIUM_NO_ANP),
    },
    ...UPSTREAM_NP,
    endPort: when(
      'Cilium 1.16 or later; older releases ignore endPort (cilium/cilium#28684) or, from 1.15, reject the policy (#28704)',
      'cilium/cilium#32807 (port ranges, v1.16.0 release notes)',
    ),
    sctp: when(
      'SCTP must be enabled (`enable-sctp`, false by default in the cilium-config ConfigMap)',
      'cilium-config ConfigMap (enable-sctp: "false")',
    ),
    ipBlockMatchesPods: noBecause(
      'Cilium CIDR rules (and Kubernetes ipBlock) never select pods or nodes, which have identities',
      'cilium/cilium#9209 (pinned), Cilium docs "Known missing features" (cilium/cilium#12783)',
    ),
    l7: {
      http: yes(`${KIM} Table 3 (HTTP, gRPC, Kafka)`),
      kafka: yes(`${KIM} Table 3`),
      dns: yes(`${KIM} §IV-B (DNS request filtering)`),
      other: yes(`${KR} §5.2 (DNS, MQTT and other protocols)`),
    },
    fqdn: yes(`${KIM} §IV-B (toFQDNs)`),
    fqdnMultiLabelPrefix: when(
      'Cilium 1.19 or later; earlier releases read a leading `**.` as `*.`, one label',
      'Cilium 1.19 upgrade notes, Documentation/operations/upgrade.rst ("DNS Policies match pattern now ' +
        'support a wildcard prefix(**.)"); pkg/fqdn/matchpattern',
    ),
    deny: yes(`${KIM} Table 3 (Allow, Deny; most restrictive wins)`),
    reject: no(`${KIM} Table 3 (Allow, Deny)`),
    pass: no(`${KIM} Table 3 (Allow, Deny)`),
    ordering: no(`${KIM} Table 3 (Priority: No; deny takes precedence)`),
    tiers: no(`${KIM} Table 3 (Priority: No)`),
    kubernetesFirst: yes(`${KIM} §IV-D`),
  },

  antrea: {
    target: 'antrea',
    title: 'Antrea',
    enforcement: yes(`${KIM} Table 2`),
    kinds: {
      'kubernetes/NetworkPolicy': yes(`${KIM} Table 3`),
      'antrea/AntreaNetworkPolicy': yes(`${KIM} Table 3`),
      'antrea/AntreaClusterNetworkPolicy': yes(`${KIM} Table 3`),
      'admin-network-policy/AdminNetworkPolicy': when(
        'Antrea v1.13 or later with the AdminNetworkPolicy feature gate (alpha, off by default); ' +
          'sameLabels/notSameLabels namespace selection is not supported',
        'antrea.io/docs/main/docs/admin-network-policy; antrea pkg/features (AdminNetworkPolicy alpha v1.13)',
      ),
      'admin-network-policy/BaselineAdminNetworkPolicy': when(
        'Antrea v1.13 or later with the AdminNetworkPolicy feature gate (alpha, off by default)',
        'antrea.io/docs/main/docs/admin-network-policy',
      ),
    },
    ...UPSTREAM_NP,
    l7: {
      http: when(
        'the L7NetworkPolicy feature gate (alpha since v1.10, off by default)',
        `antrea pkg/features (L7NetworkPolicy alpha v1.10); ${KIM} Table 3 (Antrea L7: HTTP)`,
      ),
      kafka: no(`${KIM} Table 3 (Antrea L7: HTTP)`),
      dns: no(`${KIM} Table 3 (Antrea L7: HTTP; FQDN peers exist, DNS request filtering does not)`),
      other: no(`${KIM} Table 3 (Antrea L7: HTTP)`),
    },
    fqdn: yes('Antrea-native policy `fqdn` peers in egress rules (docs/antrea-network-policy.md)'),
    deny: yes(`${KIM} Table 3 (Allow, Drop, Reject, Pass)`),
    reject: yes(`${KIM} Table 3`),
    pass: yes(`${KIM} Table 3`),
    ordering: yes(`${KIM} Table 3 (Priority: Tiers)`),
    tiers: yes(`${KIM} Table 3 (Priority: Tiers)`),
    kubernetesFirst: yes(`${KIM} §IV-D`),
  },
};

export function capabilitiesOf(target: Target): Capabilities {
  return CAPABILITIES[target];
}

/** The fact for a policy kind; a kind the table does not list is not read. */
export function kindFact(caps: Capabilities, dialect: string, kind: string): Fact {
  const key = `${dialect}/${kind}`;
  const fact = (caps.kinds as Readonly<Record<string, Fact>>)[key];
  if (fact !== undefined) return fact;
  const isApi = dialect === 'admin-network-policy' || dialect === 'cluster-network-policy';
  return no(isApi ? NPAPI : NO_KIND);
}
