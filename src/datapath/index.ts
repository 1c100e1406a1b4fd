/**
 * The datapath: resolved endpoint rules → desired kernel state → kernel (ARCHITECTURE.md). Callers pick a
 * backend by name from registry.ts and use it through backend.ts; the per-backend functions below are for
 * what is specific to one (tests of the nftables diff, the iptables golden output).
 */
export {
  UnsupportedSemanticsError,
  mergePortRanges,
  nodeSteering,
  resolveNodeRules,
  tryResolveNodeRules,
} from './compile/endpoint-rules.js';
export type {
  DirectionRules,
  EndpointRules,
  IcmpEntry,
  L4Entry,
  L7Ports,
  L7Steering,
  MatchTerm,
  NodeRules,
  PolicyRules,
  PortEntry,
  PortRange,
  ResolveOutcome,
  ResolvedRule,
  RuleSource,
  SteerEntry,
  TierRules,
} from './compile/endpoint-rules.js';
export { L7_MARK, L7_PROXY_PORT, L7_ROUTE_TABLE } from './l7-steering.js';
export { createNodeResolver } from './compile/node-resolver.js';
export type { NodeResolver } from './compile/node-resolver.js';
export { tierPlan } from './compile/tier-plan.js';
export type { PlanEntry, PlanStep, StepVerdict } from './compile/tier-plan.js';
export {
  BASE_CHAIN,
  DENY_NFLOG_GROUP,
  INPUT_CHAIN,
  L7_CHAIN,
  NFLOG_GROUP,
  REJECT_CHAIN,
  STRICT_CUT_MARK,
  TABLE_NAME,
  compileNftables,
  createNftCompiler,
  dispatchMapName,
  endpointId,
  steerSetName,
  steeredFamilies,
} from './compile/nftables.js';
export type { NftCompileOptions, NftCompiler } from './compile/nftables.js';
export { fingerprint, ruleBody, ruleText } from './compile/nft-state.js';
export type * from './compile/nft-state.js';
export {
  changesetSummary,
  diffTables,
  isEmptyChangeset,
  renderChangeset,
  renderTable,
} from './compile/nft-diff.js';
export type { ElementDelta, MapDelta, NftChangeset } from './compile/nft-diff.js';
export { compileIptables } from './compile/iptables.js';
export type { IptablesScripts } from './compile/iptables.js';
export type { AddrRange } from './compile/ranges.js';
export { parseNftJson } from './apply/nft-json.js';
export {
  applyNftables,
  createNftApplier,
  planNftables,
  readNftTable,
  teardownNftables,
  tryApplyNftables,
} from './apply/nftables.js';
export type { NftApplier, NftApplyOptions, NftApplyResult, NftTarget, Outcome } from './apply/nftables.js';
export { applyIptables, iptablesVariant, teardownIptables } from './apply/iptables.js';
export { CAPABILITIES, CAPABILITY_NAMES, formatUnsupported, lackReason, lacking } from './backend.js';
export type {
  ApplyOptions,
  ApplyResult,
  Capabilities,
  Capability,
  Compiled,
  DatapathBackend,
  DatapathTarget,
  KernelState,
  NodeDatapath,
  StateSize,
  Touched,
  Unsupported,
} from './backend.js';
export { BACKEND_NAMES, DEFAULT_BACKEND, allBackends, getBackend, isBackendName } from './registry.js';
export type { BackendName } from './registry.js';
export { nftablesBackend } from './nftables.js';
export { iptablesBackend } from './iptables.js';
