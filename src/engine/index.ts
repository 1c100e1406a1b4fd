export { selectorMatches, scopeMatches, subjectSelects } from './selector.js';
export { buildModel } from './model.js';
export type { PolicyModel, TierModel } from './model.js';
export {
  DEFAULT_TIERS,
  DEFAULT_VERDICT,
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
  RuleObserver,
  Stage,
  StageResult,
} from './pipeline.js';
export { peerMatches, portMatches, peersMatch, portsMatch, isSubjectRelative } from './match.js';
export type { RuleCheck } from './match.js';
export { sideOfEndpoint, sideOfFlowPeer } from './side.js';
export type { Side } from './side.js';
export { evaluate, evaluateObserved, isNodeLocal } from './evaluate.js';
export type { FlowObserver } from './evaluate.js';
export { computeMatrix, computeMatrixCounts, computeReachability, defaultTargets } from './matrix.js';
export type { Matrix, MatrixCell, MatrixCounts, Reachability, Target } from './matrix.js';
export { explain, formatExplanation } from './explain.js';
export type {
  DirectionExplanation,
  Explanation,
  PolicyExplanation,
  RuleExplanation,
  RuleOutcome,
} from './explain.js';
