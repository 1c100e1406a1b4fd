export { lint, lintLocated, hasErrorFindings } from './lint.js';
export { CAPABILITIES, capabilitiesOf, kindFact } from './capabilities.js';
export type { Capabilities, Fact, L7Kind, PolicyKind, Support } from './capabilities.js';
export { LINT_CODES } from './codes.js';
export { SARIF_SCHEMA, toSarif } from './sarif.js';
export type { SarifOptions } from './sarif.js';
export { TARGETS, isTarget } from './types.js';
export type { LintCode, LintFinding, LintInput, LintSeverity, LocatedFinding, Target } from './types.js';
