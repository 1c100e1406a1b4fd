export { listManifests, loadPaths, readSources } from './load.js';
export { assembleSources, parseSource, parseSources } from './parse.js';
export type { Loaded, ParsedSource, Placed, Source } from './parse.js';
export { KIND_HANDLERS, kindKey } from './kinds.js';
export type { Contribution, KindHandler } from './kinds.js';
export { collectingReporter, at, index } from './report.js';
export type { CollectingReporter, Origin, Reporter } from './report.js';
export { labelSelectorToIr } from './k8s-selector.js';
export { readLabels, readMetadata, DEFAULT_NAMESPACE } from './k8s-meta.js';
export type { MetaRules, ObjectMeta } from './k8s-meta.js';
export { implicitNamespace, namespaceToIr, nodeToIr, podToIr, readProtocol } from './k8s-core.js';
export { networkPolicyToIr } from './k8s-networkpolicy.js';
export * from './k8s-validation.js';
export type { Obj } from './fields.js';
export { BUILTIN_TIERS } from './kinds.js';
export {
  CLUSTER_NETWORK_POLICY_KIND_HANDLERS,
  adminNetworkPolicyToIr,
  baselineAdminNetworkPolicyToIr,
  clusterNetworkPolicyToIr,
} from './cluster-network-policy.js';
export { CILIUM_KIND_HANDLERS, ciliumPolicyToIr } from './cilium.js';
export {
  ANTREA_KIND_HANDLERS,
  ANTREA_STATIC_TIERS,
  antreaClusterNetworkPolicyToIr,
  antreaNetworkPolicyToIr,
  antreaTierToIr,
} from './antrea.js';
