/**
 * Structural equality of IR values: plain data (objects, arrays, strings, numbers, booleans, bigints,
 * undefined), no cycles. Incremental stages use it to tell a changed object from an equal copy (a loader
 * or the lab builds new endpoint objects on every read), so that an equal copy costs no recomputation.
 */
export function irEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!irEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of ak) if (!Object.hasOwn(rb, k) || !irEqual(ra[k], rb[k])) return false;
  return true;
}
