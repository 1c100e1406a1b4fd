import type { Tier } from '../ir/index.js';
import { TIER_ORDER } from '../ir/index.js';
import { isAbsent, readInteger, readObject, readString, warnUnknownFields, type Obj } from './fields.js';
import { readMetadata } from './k8s-meta.js';
import type { Reporter } from './report.js';

/**
 * Antrea tiers (docs/antrea-network-policy.md, "Tier" and "Static tiers"). A tier's priority (0..255,
 * lower first) orders it among Antrea tiers; every tier but `baseline` runs before Kubernetes
 * NetworkPolicy, `baseline` after it. Inside a tier, policies are first-match.
 */
export const ANTREA_DEFAULT_TIER = 'application';
export const ANTREA_BASELINE_TIER = 'baseline';

/** The tiers antrea-controller creates read-only on startup, with their priorities. */
const STATIC_TIER_PRIORITIES: Readonly<Record<string, number>> = {
  emergency: 50,
  securityops: 100,
  networkops: 150,
  platform: 200,
  application: 250,
  baseline: 253,
};

/** Custom tiers must stay below the default tier's 250 ("Static tiers"; 251..255 are reserved). */
const MAX_CUSTOM_TIER_PRIORITY = 249;

/** IR name of an Antrea tier. Lowercased so `securityOps` (older docs) and `securityops` meet. */
export function antreaTierName(name: string): string {
  return `antrea:${name.toLowerCase()}`;
}

export function isAntreaBaseline(name: string): boolean {
  return name.toLowerCase() === ANTREA_BASELINE_TIER;
}

export function antreaTier(name: string, priority: number): Tier {
  return {
    name: antreaTierName(name),
    // Baseline sits after the Kubernetes stage, so it gets its own band instead of antrea + 253.
    order: isAntreaBaseline(name) ? TIER_ORDER.antreaBaseline : TIER_ORDER.antrea + priority,
    semantics: 'first-match',
    dialect: 'antrea',
  };
}

/**
 * The six static tiers. A Tier handler contributes only custom tiers, so whoever builds the pipeline
 * (engine or CLI) merges this list once per load whenever Antrea policies are present.
 */
export const ANTREA_STATIC_TIERS: readonly Tier[] = Object.entries(STATIC_TIER_PRIORITIES).map(
  ([name, priority]) => antreaTier(name, priority),
);

const TIER_SPEC_FIELDS = ['priority', 'description'];

/**
 * crd.antrea.io Tier → IR tier, validated as the Tier CRD schema and antrea-controller's tier admission
 * webhook do. A manifest of a static tier (e.g. from `kubectl get tiers -o yaml`) with its own priority
 * contributes nothing: the static tiers come from ANTREA_STATIC_TIERS.
 */
export function antreaTierToIr(obj: Obj, r: Reporter): Tier | undefined {
  const before = r.errorCount;
  warnUnknownFields(obj, ['apiVersion', 'kind', 'metadata', 'spec', 'status'], '', r);
  const meta = readMetadata(obj, { namespaced: false, name: 'dns-subdomain' }, r);
  const spec = readObject(obj, 'spec', '', r) ?? {};
  warnUnknownFields(spec, TIER_SPEC_FIELDS, 'spec', r);
  readString(spec, 'description', 'spec', r);
  const priority = readInteger(spec, 'priority', 'spec', r);
  if (isAbsent(spec, 'priority')) r.error('missing-field', 'spec.priority', 'priority is required');
  if (priority !== undefined && (priority < 0 || priority > 255)) {
    r.error('invalid-value', 'spec.priority', `${priority}: must be between 0 and 255`);
  }
  if (meta === undefined || priority === undefined || r.errorCount !== before) return undefined;

  const staticPriority = STATIC_TIER_PRIORITIES[meta.name];
  if (staticPriority !== undefined) {
    if (priority !== staticPriority) {
      r.error(
        'invalid-value',
        'spec.priority',
        `${priority}: "${meta.name}" is a static tier with priority ${staticPriority}; its priority cannot be changed`,
      );
    } else {
      r.warn('duplicate', 'metadata.name', `"${meta.name}" is a static tier Palisade already knows; skipped`);
    }
    return undefined;
  }
  if (priority > MAX_CUSTOM_TIER_PRIORITY) {
    r.error(
      'invalid-value',
      'spec.priority',
      `${priority}: custom tiers must have a priority below 250 (250..255 are reserved for the application and baseline tiers)`,
    );
    return undefined;
  }
  const taken = Object.entries(STATIC_TIER_PRIORITIES).find(([, p]) => p === priority);
  if (taken !== undefined) {
    r.error(
      'duplicate',
      'spec.priority',
      `${priority}: overlaps with the static tier "${taken[0]}"; no two tiers can have the same priority`,
    );
    return undefined;
  }
  return antreaTier(meta.name, priority);
}
