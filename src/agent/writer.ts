/**
 * Writing desired objects into a datastore (`palisade apply|delete --datastore`): manifests → objects
 * (Lists unwrapped) → one key (etcd) or file (dir) per object. The input is validated first with the same
 * dialect parsers the agent uses, so a writer never stores what every agent would reject.
 */
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Obj, Source } from '../dialects/index.js';
import { parseSources } from '../dialects/index.js';
import type { Diagnostic } from '../ir/index.js';
import { hasErrors } from '../ir/index.js';
import type { DatastoreSpec, NamedObject } from './datastore.js';
import { dirFileName, etcdKey, nameObject } from './datastore.js';
import { etcdClient } from './sources/etcd.js';

export type Extracted =
  | { readonly ok: true; readonly objects: readonly NamedObject[]; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every object of the sources, or the diagnostics that stop the write. Pure. `validate: false` (delete)
 * only needs each object's name, so that a malformed object can still be removed.
 */
export function extractObjects(sources: readonly Source[], validate = true): Extracted {
  const { diagnostics } = validate ? parseSources(sources) : { diagnostics: [] as Diagnostic[] };
  if (hasErrors(diagnostics)) return { ok: false, diagnostics };
  const objects: NamedObject[] = [];
  const problems: Diagnostic[] = [];
  for (const s of sources) {
    parseAllDocuments(s.text).forEach((doc, i) => {
      if (doc.errors.length > 0) {
        problems.push({
          code: 'yaml-syntax',
          severity: 'error',
          file: s.file,
          doc: i,
          path: '',
          message: doc.errors[0]?.message ?? 'invalid YAML',
        });
        return;
      }
      const value: unknown = doc.toJS({ maxAliasCount: 1000 });
      if (!isObj(value)) return;
      const kind = value['kind'];
      const items = value['items'];
      const list = typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items);
      const located: { obj: unknown; path: string }[] = list
        ? (items as unknown[]).map((obj, k) => ({
            obj:
              kind !== 'List' && isObj(obj) && obj['kind'] === undefined
                ? { apiVersion: value['apiVersion'], kind: kind.slice(0, -'List'.length), ...obj }
                : obj,
            path: `items[${k}]`,
          }))
        : [{ obj: value, path: '' }];
      for (const { obj, path } of located) {
        if (!isObj(obj)) continue;
        const named = nameObject(obj);
        if (!named.ok)
          problems.push({
            code: 'invalid-value',
            severity: 'error',
            file: s.file,
            doc: i,
            path: path === '' ? named.error.field : `${path}.${named.error.field}`,
            message: named.error.message,
          });
        else objects.push(named.value);
      }
    });
  }
  if (problems.length > 0) return { ok: false, diagnostics: [...diagnostics, ...problems] };
  return { ok: true, objects, warnings: diagnostics };
}

export interface WriteResult {
  /** Keys or files written (apply) or removed (delete). */
  readonly done: readonly string[];
  /** delete: names that were not there. */
  readonly missing: readonly string[];
}

export async function writeObjects(
  ds: DatastoreSpec,
  objects: readonly NamedObject[],
  op: 'apply' | 'delete',
): Promise<WriteResult> {
  if (ds.kind === 'kubernetes')
    // Writing would mean server-side apply with field managers, dry-run and RBAC: kubectl already does it.
    throw new Error(
      `palisade ${op} does not write to the Kubernetes API; use kubectl ${op} -f … (the agent watches what it stores)`,
    );
  const done: string[] = [];
  const missing: string[] = [];
  if (ds.kind === 'dir') {
    if (op === 'apply') await mkdir(ds.path, { recursive: true });
    for (const o of objects) {
      const file = join(ds.path, dirFileName(o));
      if (op === 'apply') {
        // Write then rename, so the agent's rescan never reads half a file.
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, `${JSON.stringify(o.object, null, 2)}\n`);
        await rename(tmp, file);
        done.push(file);
      } else {
        try {
          await unlink(file);
          done.push(file);
        } catch {
          missing.push(file);
        }
      }
    }
    return { done, missing };
  }
  const client = etcdClient(ds.hosts);
  try {
    for (const o of objects) {
      const key = etcdKey(o);
      if (op === 'apply') {
        await client.put(key).value(JSON.stringify(o.object));
        done.push(key);
      } else {
        const r = await client.delete().key(key).exec();
        if (Number(r.deleted) > 0) done.push(key);
        else missing.push(key);
      }
    }
  } finally {
    client.close();
  }
  return { done, missing };
}
