/**
 * Translators from Kubernetes NetworkPolicy into the other dialects Palisade reads. Test oracles for
 * test/dialects/equivalence.test.ts, not product code: each says in its file comment why its output means
 * what the Kubernetes policy means.
 */
export { toAntrea } from './antrea.js';
export type { AntreaLayout } from './antrea.js';
export { calicoSelector, toCalico } from './calico.js';
export { toCilium } from './cilium.js';
export type { Addresses } from './cilium.js';
export { Untranslatable, readNetworkPolicy } from './k8s.js';
export type { NetworkPolicy, Obj } from './k8s.js';
