import type { Requirement, Selector } from '../ir/index.js';
import { SELECT_ALL } from '../ir/index.js';
import {
  isObj,
  objectItems,
  readArray,
  readString,
  stringItems,
  typeName,
  warnUnknownFields,
} from './fields.js';
import { readLabels } from './k8s-meta.js';
import { labelValueErrors, qualifiedNameErrors } from './k8s-validation.js';
import { at, type Reporter } from './report.js';

const SELECTOR_FIELDS = ['matchLabels', 'matchExpressions'];
const REQUIREMENT_FIELDS = ['key', 'operator', 'values'];

/**
 * A Kubernetes metav1.LabelSelector at `path`, validated as ValidateLabelSelector does, as an IR
 * Selector: matchLabels become `In` with one value, matchExpressions keep their operator, and `{}`
 * selects everything. Undefined when anything is wrong (each problem is reported). Calico, Cilium and
 * Antrea embed the same shape, so their dialects call this too.
 */
export function labelSelectorToIr(value: unknown, path: string, r: Reporter): Selector | undefined {
  if (!isObj(value)) {
    r.error('invalid-type', path, `must be an object, got ${typeName(value)}`);
    return undefined;
  }
  warnUnknownFields(value, SELECTOR_FIELDS, path, r);
  const requirements: Requirement[] = [];
  let ok = true;
  const labels = readLabels(value, 'matchLabels', path, r);
  if (labels === undefined) ok = false;
  else for (const [key, v] of Object.entries(labels)) requirements.push({ key, op: 'In', values: [v] });

  const exprPath = at(path, 'matchExpressions');
  const exprs = readArray(value, 'matchExpressions', path, r);
  if (exprs === undefined && value['matchExpressions'] != null) ok = false;
  const items = exprs === undefined ? [] : objectItems(exprs, exprPath, r);
  if (exprs !== undefined && items.length !== exprs.length) ok = false;
  for (const { item, path: p } of items) {
    const req = requirementToIr(item, p, r);
    if (req === undefined) ok = false;
    else requirements.push(req);
  }
  if (!ok) return undefined;
  return requirements.length === 0 ? SELECT_ALL : { kind: 'match', requirements };
}

function requirementToIr(
  o: Readonly<Record<string, unknown>>,
  path: string,
  r: Reporter,
): Requirement | undefined {
  warnUnknownFields(o, REQUIREMENT_FIELDS, path, r);
  let ok = true;
  const fail = (code: Parameters<Reporter['error']>[0], p: string, msg: string) => {
    r.error(code, p, msg);
    ok = false;
  };
  const key = readString(o, 'key', path, r);
  if (key === undefined) {
    if (o['key'] == null) fail('missing-field', at(path, 'key'), 'key is required');
    ok = false;
  } else {
    for (const m of qualifiedNameErrors(key)) fail('invalid-value', at(path, 'key'), `"${key}": ${m}`);
  }
  const operator = readString(o, 'operator', path, r);
  const rawValues = readArray(o, 'values', path, r);
  if (rawValues === undefined && o['values'] != null) ok = false;
  const valuesPath = at(path, 'values');
  const values = rawValues === undefined ? [] : stringItems(rawValues, valuesPath, r);
  if (rawValues !== undefined && values.length !== rawValues.length) ok = false;
  values.forEach((v, i) => {
    for (const m of labelValueErrors(v)) fail('invalid-value', `${valuesPath}[${i}]`, `"${v}": ${m}`);
  });

  if (operator === 'In' || operator === 'NotIn') {
    if (rawValues === undefined ? o['values'] == null : rawValues.length === 0) {
      fail('missing-field', valuesPath, "must be specified when `operator` is 'In' or 'NotIn'");
    }
    return ok && key !== undefined ? { key, op: operator, values } : undefined;
  }
  if (operator === 'Exists' || operator === 'DoesNotExist') {
    if (values.length > 0)
      fail('invalid-value', valuesPath, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    return ok && key !== undefined ? { key, op: operator } : undefined;
  }
  if (operator === undefined && o['operator'] == null) {
    r.error('missing-field', at(path, 'operator'), 'operator is required');
  } else if (operator !== undefined) {
    r.error(
      'unsupported-value',
      at(path, 'operator'),
      `"${operator}": not a valid selector operator (supported: "In", "NotIn", "Exists", "DoesNotExist")`,
    );
  }
  return undefined;
}
