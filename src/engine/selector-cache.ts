/**
 * Each distinct endpoint selector (namespace scope × pod selector) resolved once and kept, with the pods
 * it selects updated by deltas as pods come, go and change labels or namespace labels. cilium's
 * pkg/policy/selectorcache.go is the model: users (policy subjects, rule peers) acquire a selector and
 * release it, the last release drops it; a new selector is filled by one scan of the known pods, and a
 * pod change is matched against every cached selector once. An update says which selectors it touched, so
 * a user recomputes only what reads them.
 *
 * Selectors never select host-network endpoints (the engine's subjects skip them, the datapath's peers
 * are pod addresses), so those are not in its universe. Unlike the rest of the engine this is mutable: it
 * is the memory of an incremental caller, never part of a model.
 */
import type { Endpoint } from '../ir/endpoint.js';
import { endpointKey } from '../ir/endpoint.js';
import type { Selector } from '../ir/labels.js';
import type { NamespaceScope } from '../ir/peer.js';
import { scopeMatches, selectorMatches } from '../ir/label-match.js';

/** A selector owned by the cache; `selected` follows every update. */
export interface CachedSelector {
  /** Equal selectors written alike share one key (and one entry). */
  readonly key: string;
  readonly namespaces: NamespaceScope;
  readonly pods: Selector;
  /** Keys ("namespace/name") of the pods selected now. */
  readonly selected: ReadonlySet<string>;
}

interface Entry extends CachedSelector {
  readonly selected: Set<string>;
  users: number;
}

/** Pods that changed (added or replaced, by key) and pods that are gone. */
export interface PodDelta {
  readonly upsert: readonly Endpoint[];
  readonly remove: readonly string[];
}

function matches(e: Entry, pod: Endpoint): boolean {
  return (
    scopeMatches(e.namespaces, pod.namespace, pod.namespaceLabels) && selectorMatches(e.pods, pod.labels)
  );
}

export class SelectorCache {
  readonly #pods = new Map<string, Endpoint>();
  readonly #entries = new Map<string, Entry>();

  /** The cached selector for (namespaces, pods), one user more. */
  acquire(namespaces: NamespaceScope, pods: Selector): CachedSelector {
    const key = JSON.stringify([namespaces, pods]);
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { key, namespaces, pods, selected: new Set(), users: 0 };
      for (const [k, pod] of this.#pods) if (matches(e, pod)) e.selected.add(k);
      this.#entries.set(key, e);
    }
    e.users++;
    return e;
  }

  /** One user fewer; the last one drops the selector. */
  release(sel: CachedSelector): void {
    const e = this.#entries.get(sel.key);
    if (e === undefined || e !== sel) throw new Error(`internal: selector ${sel.key} released but not held`);
    if (--e.users === 0) this.#entries.delete(sel.key);
  }

  /**
   * Applies pod changes; returns the selectors whose selection changed or holds a changed pod (whose
   * addresses a user may read). Host-network endpoints count as removed.
   */
  update(delta: PodDelta): Set<CachedSelector> {
    const touched = new Set<CachedSelector>();
    for (const key of delta.remove) {
      if (!this.#pods.delete(key)) continue;
      for (const e of this.#entries.values()) if (e.selected.delete(key)) touched.add(e);
    }
    for (const pod of delta.upsert) {
      const key = endpointKey(pod);
      if (pod.hostNetwork) this.#pods.delete(key);
      else this.#pods.set(key, pod);
      for (const e of this.#entries.values()) {
        const was = e.selected.has(key);
        const is = !pod.hostNetwork && matches(e, pod);
        if (is) e.selected.add(key);
        else e.selected.delete(key);
        if (was || is) touched.add(e);
      }
    }
    return touched;
  }

  /** Distinct selectors held (for tests and counters). */
  get size(): number {
    return this.#entries.size;
  }
}
