import type { Loaded } from '../dialects/index.js';
import { SEMANTICS_PROFILES, buildModel, isSemanticsProfile } from '../engine/index.js';
import type { LearntNames, PolicyModel, SemanticsProfile } from '../engine/index.js';
import { UsageError } from './exit-codes.js';

export const SEMANTICS_HELP = `evaluation order: ${SEMANTICS_PROFILES.join(', ')} (calico, cilium and antrea enforce Kubernetes NetworkPolicy first, as Kim et al. 2025 observed)`;

export function parseSemantics(value: string): SemanticsProfile {
  if (!isSemanticsProfile(value)) {
    throw new UsageError(`--semantics ${value}: unknown profile (one of: ${SEMANTICS_PROFILES.join(', ')})`);
  }
  return value;
}

function policyLabel(p: PolicyModel['untiered'][number]): string {
  return `${p.ref.kind} ${p.ref.namespace === undefined ? '' : `${p.ref.namespace}/`}${p.ref.name}`;
}

/** Lines warning about policies no tier holds and tiers declared twice; empty when there is nothing. */
export function modelWarnings(model: PolicyModel): string[] {
  return [
    ...model.untiered.map(
      (p) =>
        `palisade: warning: ${policyLabel(p)}: tier "${p.tier}" is not declared; the policy is not evaluated`,
    ),
    ...model.tierConflicts.map(
      (c) =>
        `palisade: warning: tier "${c.name}" is declared more than once (order ${c.kept.order} ${c.kept.semantics}` +
        ` kept, order ${c.dropped.order} ${c.dropped.semantics}${c.dropped.dialect === undefined ? '' : ` from ${c.dropped.dialect}`} ignored)`,
    ),
  ];
}

/**
 * The model both analyze verbs evaluate: declared tiers merged in, the chosen profile, the names `--dns`
 * says the DNS proxy learnt, warnings on stderr.
 */
export function modelOf(loaded: Loaded, semantics: SemanticsProfile, dns?: LearntNames): PolicyModel {
  const model = buildModel(loaded.cluster, loaded.policies, loaded.tiers, {
    semantics,
    ...(dns === undefined ? {} : { dns }),
  });
  const warnings = modelWarnings(model);
  if (warnings.length > 0) process.stderr.write(`${warnings.join('\n')}\n`);
  return model;
}
