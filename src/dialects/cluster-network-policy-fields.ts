/**
 * Schema helpers shared by the ClusterNetworkPolicy / AdminNetworkPolicy readers: the CRDs express most of
 * their rules as "exactly one property" (MinProperties=1, MaxProperties=1) and list bounds
 * (MinItems/MaxItems), so those two checks live here once.
 */
import { isAbsent, readArray, type Obj } from './fields.js';
import { at, type Reporter } from './report.js';

function quoted(fields: readonly string[]): string {
  return fields.map((f) => `\`${f}\``).join(', ');
}

/**
 * The one field of a union object that is set, or undefined (reported). The API server prunes unknown
 * fields before it validates, so only `fields` count: an object holding nothing but an unknown field is
 * rejected as empty, and the caller's unknown-field warning says which field was dropped.
 */
export function oneOf(o: Obj, fields: readonly string[], path: string, r: Reporter): string | undefined {
  const present = fields.filter((f) => !isAbsent(o, f));
  if (present.length === 1) return present[0];
  if (present.length === 0) r.error('missing-field', path, `exactly one of ${quoted(fields)} must be set`);
  else r.error('invalid-value', path, `exactly one of ${quoted(fields)} may be set, got ${quoted(present)}`);
  return undefined;
}

export interface ListBounds {
  readonly required?: boolean;
  readonly min?: number;
  readonly max: number;
}

/**
 * A list field with the CRD's MinItems/MaxItems. Undefined when absent (reported if required) or of the
 * wrong type; a list that breaks a bound is reported and still returned, so its items are checked too.
 */
export function readBoundedList(
  o: Obj,
  key: string,
  path: string,
  bounds: ListBounds,
  r: Reporter,
): readonly unknown[] | undefined {
  const p = at(path, key);
  if (isAbsent(o, key)) {
    if (bounds.required) r.error('missing-field', p, `${key} is required`);
    return undefined;
  }
  const list = readArray(o, key, path, r);
  if (list === undefined) return undefined;
  if (bounds.min !== undefined && list.length < bounds.min) {
    r.error('invalid-value', p, `must have at least ${bounds.min} item${bounds.min === 1 ? '' : 's'}`);
  }
  if (list.length > bounds.max) {
    r.error('invalid-value', p, `Too many: ${list.length}: must have at most ${bounds.max} items`);
  }
  return list;
}

/** `+listType=set`: the API server rejects a repeated value. Reports each repeat at its own index. */
export function reportSetDuplicates(values: readonly unknown[], path: string, r: Reporter): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (typeof v !== 'string') return;
    if (seen.has(v)) r.error('duplicate', `${path}[${i}]`, `Duplicate value: "${v}"`);
    seen.add(v);
  });
}
