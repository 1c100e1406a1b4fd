/**
 * Where each field of a written object is, from the YAML parser's node ranges: what `Policy.lines`
 * holds, so that tools can point at the source without parsing it again.
 */
import { isMap, isNode, isScalar, isSeq, type LineCounter } from 'yaml';

/**
 * The 1-based line of `node` ('') and of every mapping key and list entry below it, by the path
 * diagnostics use (`spec.ingress[0].ports`), relative to `node`. A key's line is its own (its value may
 * start on the next line); an entry's is where the entry starts. Keys that are not scalars are skipped.
 */
export function fieldLines(node: unknown, counter: LineCounter): Readonly<Record<string, number>> {
  // No prototype: a key written `__proto__` is a field like any other.
  const out = Object.create(null) as Record<string, number>;
  const put = (path: string, offset: number | undefined): void => {
    if (offset !== undefined && out[path] === undefined) out[path] = counter.linePos(offset).line;
  };
  const walk = (n: unknown, path: string): void => {
    if (isMap(n)) {
      for (const pair of n.items) {
        if (!isScalar(pair.key)) continue;
        const p = path === '' ? String(pair.key.value) : `${path}.${String(pair.key.value)}`;
        put(p, pair.key.range?.[0]);
        walk(pair.value, p);
      }
    } else if (isSeq(n)) {
      n.items.forEach((item, i) => {
        const p = `${path}[${i}]`;
        if (isNode(item)) put(p, item.range?.[0]);
        walk(item, p);
      });
    }
  };
  if (isNode(node)) put('', node.range?.[0]);
  walk(node, '');
  return out;
}
