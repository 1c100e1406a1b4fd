import { at, index, type Reporter } from './report.js';

/** A decoded YAML/JSON mapping, before any schema is applied. */
export type Obj = Readonly<Record<string, unknown>>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Type words as the API server's decoder prints them. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function wrongType(r: Reporter, path: string, want: string, v: unknown): undefined {
  r.error('invalid-type', path, `must be ${want}, got ${typeName(v)}`);
  return undefined;
}

/** YAML `key:` with nothing after it decodes to null; like the API server, treat it as absent. */
export function isAbsent(o: Obj, key: string): boolean {
  return o[key] === undefined || o[key] === null;
}

/**
 * Field readers: `undefined` when absent (no diagnostic) or of the wrong type (diagnosed). Callers that
 * must tell the two apart check `isAbsent` first; a diagnosed document is dropped anyway.
 */
export function readString(o: Obj, key: string, path: string, r: Reporter): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : wrongType(r, at(path, key), 'a string', v);
}

export function readInteger(o: Obj, key: string, path: string, r: Reporter): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' && Number.isInteger(v) ? v : wrongType(r, at(path, key), 'an integer', v);
}

export function readBoolean(o: Obj, key: string, path: string, r: Reporter): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'boolean' ? v : wrongType(r, at(path, key), 'a boolean', v);
}

export function readObject(o: Obj, key: string, path: string, r: Reporter): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return isObj(v) ? v : wrongType(r, at(path, key), 'an object', v);
}

export function readArray(o: Obj, key: string, path: string, r: Reporter): readonly unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? (v as readonly unknown[]) : wrongType(r, at(path, key), 'a list', v);
}

/** Items of a list that must all be objects, paired with their paths; non-objects are diagnosed. */
export function objectItems(
  items: readonly unknown[],
  path: string,
  r: Reporter,
): { readonly item: Obj; readonly path: string; readonly i: number }[] {
  const out: { item: Obj; path: string; i: number }[] = [];
  items.forEach((item, i) => {
    const p = index(path, i);
    if (isObj(item)) out.push({ item, path: p, i });
    else wrongType(r, p, 'an object', item);
  });
  return out;
}

/** Strings of a list that must all be strings; non-strings are diagnosed. */
export function stringItems(items: readonly unknown[], path: string, r: Reporter): string[] {
  const out: string[] = [];
  items.forEach((item, i) => {
    if (typeof item === 'string') out.push(item);
    else wrongType(r, index(path, i), 'a string', item);
  });
  return out;
}

/** The API server silently prunes fields its schema does not know; say so rather than stay silent. */
export function warnUnknownFields(o: Obj, known: readonly string[], path: string, r: Reporter): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) {
      r.warn('unknown-field', at(path, key), `unknown field "${key}"; the API server would drop it`);
    }
  }
}
