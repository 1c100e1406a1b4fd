/**
 * Desired table vs what the kernel holds → the smallest changeset, and the changeset → one `nft -f`
 * transaction. Pure. Sets and maps change element by element; a chain whose rules differ is flushed and
 * refilled; objects the desired state no longer has are deleted after nothing refers to them.
 */
import type { NftChain, NftMap, NftSet, NftTable, TableFingerprint } from './nft-state.js';
import { fingerprint, ruleText } from './nft-state.js';

export interface ElementDelta {
  readonly name: string;
  readonly add: readonly string[];
  readonly del: readonly string[];
}

export interface MapDelta {
  readonly name: string;
  readonly add: readonly (readonly [string, string])[];
  /** Keys only: that is all `delete element` needs. */
  readonly del: readonly string[];
}

export interface NftChangeset {
  readonly family: 'inet';
  readonly table: string;
  readonly createTable: boolean;
  readonly addSets: readonly NftSet[];
  readonly addMaps: readonly NftMap[];
  readonly addChains: readonly NftChain[];
  readonly replaceChains: readonly NftChain[];
  readonly setElements: readonly ElementDelta[];
  readonly mapElements: readonly MapDelta[];
  readonly deleteChains: readonly string[];
  readonly deleteSets: readonly string[];
  readonly deleteMaps: readonly string[];
}

function sameList(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function elementDelta(name: string, current: readonly string[], desired: readonly string[]): ElementDelta {
  const have = new Set(current);
  const want = new Set(desired);
  return {
    name,
    add: desired.filter((e) => !have.has(e)),
    del: current.filter((e) => !want.has(e)),
  };
}

function mapDelta(name: string, current: NftMap['elements'], desired: NftMap['elements']): MapDelta {
  const have = new Map(current);
  const want = new Map(desired);
  return {
    name,
    add: desired.filter(([k, v]) => have.get(k) !== v),
    // A key whose verdict changes is deleted and re-added.
    del: current.filter(([k, v]) => want.get(k) !== v).map(([k]) => k),
  };
}

const sameHook = (a: NftChain['hook'], b: NftChain['hook']): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

/**
 * The changes that turn `current` (undefined: the table does not exist) into `desired`. A set or map whose
 * key type changed, or a chain whose hook changed, is replaced whole (delete then create).
 */
export function diffTables(current: TableFingerprint | undefined, desired: NftTable): NftChangeset {
  const cur = current ?? { sets: [], maps: [], chains: [] };
  const want = fingerprint(desired);
  const curSets = new Map(cur.sets.map((s) => [s.name, s]));
  const curMaps = new Map(cur.maps.map((m) => [m.name, m]));
  const curChains = new Map(cur.chains.map((c) => [c.name, c]));
  const wantSets = new Set(desired.sets.map((s) => s.name));
  const wantMaps = new Set(desired.maps.map((m) => m.name));
  const wantChains = new Map(want.chains.map((c) => [c.name, c]));

  const addSets: NftSet[] = [];
  const setElements: ElementDelta[] = [];
  const deleteSets = cur.sets.filter((s) => !wantSets.has(s.name)).map((s) => s.name);
  for (const s of desired.sets) {
    const have = curSets.get(s.name);
    if (!have || !sameList(have.type, s.type) || !sameList(have.flags, s.flags)) {
      if (have) deleteSets.push(s.name);
      addSets.push(s);
      continue;
    }
    // The same array: an incremental compile reused the set, and the applier remembers it.
    if (have.elements === s.elements) continue;
    const d = elementDelta(s.name, have.elements, s.elements);
    if (d.add.length > 0 || d.del.length > 0) setElements.push(d);
  }

  const addMaps: NftMap[] = [];
  const mapElements: MapDelta[] = [];
  const deleteMaps = cur.maps.filter((m) => !wantMaps.has(m.name)).map((m) => m.name);
  for (const m of desired.maps) {
    const have = curMaps.get(m.name);
    if (!have || !sameList(have.type, m.type)) {
      if (have) deleteMaps.push(m.name);
      addMaps.push(m);
      continue;
    }
    const d = mapDelta(m.name, have.elements, m.elements);
    if (d.add.length > 0 || d.del.length > 0) mapElements.push(d);
  }

  const addChains: NftChain[] = [];
  const replaceChains: NftChain[] = [];
  const deleteChains = cur.chains.filter((c) => !wantChains.has(c.name)).map((c) => c.name);
  for (const c of desired.chains) {
    const have = curChains.get(c.name);
    const wanted = wantChains.get(c.name);
    if (!have || !sameHook(have.hook, c.hook)) {
      if (have) deleteChains.push(c.name);
      addChains.push(c);
    } else if (!wanted || !sameList(have.ruleIds, wanted.ruleIds)) {
      replaceChains.push(c);
    }
  }

  return {
    family: desired.family,
    table: desired.name,
    createTable: current === undefined,
    addSets,
    addMaps,
    addChains,
    replaceChains,
    setElements,
    mapElements,
    deleteChains,
    deleteSets,
    deleteMaps,
  };
}

export function isEmptyChangeset(c: NftChangeset): boolean {
  return (
    !c.createTable &&
    [
      c.addSets,
      c.addMaps,
      c.addChains,
      c.replaceChains,
      c.setElements,
      c.mapElements,
      c.deleteChains,
      c.deleteSets,
      c.deleteMaps,
    ].every((l) => l.length === 0)
  );
}

/** Counts for logs and reports. */
export function changesetSummary(c: NftChangeset): Record<string, number> {
  const sum = (
    ds: readonly { add: readonly unknown[]; del: readonly unknown[] }[],
    k: 'add' | 'del',
  ): number => ds.reduce((n, d) => n + d[k].length, 0);
  return {
    addSets: c.addSets.length,
    addChains: c.addChains.length,
    replaceChains: c.replaceChains.length,
    deleteChains: c.deleteChains.length,
    deleteSets: c.deleteSets.length + c.deleteMaps.length,
    addElements: sum(c.setElements, 'add') + sum(c.mapElements, 'add'),
    delElements: sum(c.setElements, 'del') + sum(c.mapElements, 'del'),
  };
}

function elementBlock(elements: readonly string[]): string {
  return `{\n${elements.map((e) => `\t${e}`).join(',\n')}\n}`;
}

/**
 * One transaction. Order matters inside it: objects are created before anything refers to them, element
 * deletions precede additions (a concatenated interval set refuses an element that overlaps one still
 * present), and chains, sets and maps are deleted only after the rules and map elements that referred to
 * them are gone.
 */
export function renderChangeset(c: NftChangeset): string {
  const t = `${c.family} ${c.table}`;
  const out: string[] = [];
  if (c.createTable) out.push(`add table ${t}`);
  // Objects replaced whole (type or hook changed) are in both the add and the delete lists: delete first.
  const replaced = new Set([...c.addSets, ...c.addMaps, ...c.addChains].map((x) => x.name));
  for (const name of c.deleteChains.filter((n) => replaced.has(n))) {
    out.push(`flush chain ${t} ${name}`, `delete chain ${t} ${name}`);
  }
  for (const m of c.deleteMaps.filter((n) => replaced.has(n))) out.push(`delete map ${t} ${m}`);
  for (const s of c.deleteSets.filter((n) => replaced.has(n))) out.push(`delete set ${t} ${s}`);

  for (const m of c.addMaps) out.push(`add map ${t} ${m.name} { type ${m.type.join(' . ')} : verdict; }`);
  for (const s of c.addSets) {
    const flags = s.flags.length > 0 ? ` flags ${s.flags.join(',')};` : '';
    out.push(`add set ${t} ${s.name} { type ${s.type.join(' . ')};${flags} }`);
    if (s.elements.length > 0) out.push(`add element ${t} ${s.name} ${elementBlock(s.elements)}`);
  }
  for (const ch of c.addChains) {
    const h = ch.hook;
    out.push(
      h
        ? `add chain ${t} ${ch.name} { type ${h.type} hook ${h.hook} priority ${h.priority}; policy ${h.policy}; }`
        : `add chain ${t} ${ch.name}`,
    );
  }
  for (const d of c.setElements)
    if (d.del.length > 0) out.push(`delete element ${t} ${d.name} ${elementBlock(d.del)}`);
  for (const d of c.setElements)
    if (d.add.length > 0) out.push(`add element ${t} ${d.name} ${elementBlock(d.add)}`);
  for (const d of c.mapElements)
    if (d.del.length > 0) out.push(`delete element ${t} ${d.name} ${elementBlock(d.del)}`);

  const obsolete = c.deleteChains.filter((n) => !replaced.has(n));
  for (const name of [...c.replaceChains.map((ch) => ch.name), ...obsolete])
    out.push(`flush chain ${t} ${name}`);
  for (const ch of [...c.addChains, ...c.replaceChains]) {
    for (const r of ch.rules) out.push(`add rule ${t} ${ch.name} ${ruleText(r)}`);
  }
  for (const m of c.addMaps) {
    if (m.elements.length > 0)
      out.push(`add element ${t} ${m.name} ${elementBlock(m.elements.map(([k, v]) => `${k} : ${v}`))}`);
  }
  for (const d of c.mapElements) {
    if (d.add.length > 0)
      out.push(`add element ${t} ${d.name} ${elementBlock(d.add.map(([k, v]) => `${k} : ${v}`))}`);
  }

  for (const name of obsolete) out.push(`delete chain ${t} ${name}`);
  for (const s of c.deleteSets.filter((n) => !replaced.has(n))) out.push(`delete set ${t} ${s}`);
  for (const m of c.deleteMaps.filter((n) => !replaced.has(n))) out.push(`delete map ${t} ${m}`);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** The whole table as one script for an empty kernel (first apply, golden tests). */
export function renderTable(t: NftTable): string {
  return renderChangeset(diffTables(undefined, t));
}
