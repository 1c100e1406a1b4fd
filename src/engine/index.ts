export { subjectSelects } from './selector.js';
export { buildModel, createModelBuilder } from './model.js';
export type { ModelBuilder, ModelOptions, PolicyModel, TierConflict, TierModel } from './model.js';
export { SelectorCache } from './selector-cache.js';
export type { CachedSelector, PodDelta } from './selector-cache.js';
export {
  DEFAULT_TIERS,
  DEFAULT_VERDICT,
  KUBERNETES_GATE_TIER,
  PROFILES,
  SEMANTICS_PROFILES,
  comparePolicies,
  compareTiers,
  isSemanticsProfile,
  participates,
  participants,
  pipelineFor,
  rulesOf,
  runPipeline,
} from './pipeline.js';
export type {
  Decision,
  DirectionQuery,
  PipelineResult,
  Profile,
  RuleObserver,
  SemanticsProfile,
  Stage,
  StageKind,
  StageResult,
  StageStep,
} from './pipeline.js';
export {
  checkRule,
  fqdnHits,
  isSubjectRelative,
  peerMatches,
  peersMatch,
  portMatches,
  portsMatch,
  ruleMatches,
  rulePeers,
  rulePorts,
} from './match.js';
export type { RuleCheck } from './match.js';
export { findFlowPeer, sideOfEndpoint, sideOfFlowPeer } from './side.js';
export type { Side } from './side.js';
export { evaluate, evaluateDetailed, evaluateObserved, isNodeLocal } from './evaluate.js';
export type { DirectionDetail, EvaluationDetail, FlowObserver } from './evaluate.js';
export {
  chooseTargets,
  computeMatrix,
  computeMatrixCounts,
  computeReachability,
  defaultTargets,
  matrixOfNamespace,
} from './matrix.js';
export type { Matrix, MatrixCell, MatrixCounts, Reachability, Target } from './matrix.js';
export {
  antreaGlobMatch,
  computeHttpMatrix,
  evaluateHttp,
  fullRegexMatch,
  httpRuleMatches,
  isGrpc,
} from './l7.js';
export type { HttpMatrixCell, HttpRequest, HttpVerdict, L7Decision, L7Response } from './l7.js';
export { decideByTable, httpDecisionTable } from './l7-table.js';
export type { DirectionTable, HttpDecisionTable, HttpTableEntry } from './l7-table.js';
export {
  DNS_NOTE,
  FQDN_NOTE,
  L7_NOTE,
  explain,
  explainDnsQuery,
  explainHttp,
  formatExplanation,
} from './explain.js';
export type {
  DirectionExplanation,
  DnsExplanation,
  Explanation,
  HttpExplanation,
  PolicyExplanation,
  RuleExplanation,
  RuleOutcome,
} from './explain.js';
export { canonicalName, ciliumPatternRegex, fqdnMatches } from './fqdn.js';
export { NO_LEARNT_NAMES, addressesOf, emptyDnsCache, expire, learn, learntNames } from './dns-cache.js';
export type { DnsAnswer, DnsCache, LearntNames } from './dns-cache.js';
export { evaluateDnsQuery } from './dns.js';
export type { DnsDecision, DnsQueryOptions, DnsQueryVerdict, DnsRefusal, DnsResponse } from './dns.js';
