/**
 * The `kubernetes` datastore against test/agent/kube-replay.ts, an in-memory stand-in that speaks the
 * list/watch protocol (it is not a real API server: see its header for what it reproduces). Each test
 * runs its own replay server and source, and checks what the agent would be handed: snapshots (parsed
 * by the dialect loader), health reports and log lines.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { DesiredObjects, SourceHealth } from '../../src/agent/index.js';
import {
  KUBE_RESOURCES,
  describeDatastore,
  kubernetesSource,
  parseDatastore,
  reconcile,
  writeObjects,
} from '../../src/agent/index.js';
import { loadKubeConfig } from '../../src/agent/sources/kube-config.js';
import { apiVersionOf } from '../../src/agent/sources/kube-resources.js';
import type { KubernetesSourceOptions } from '../../src/agent/sources/kubernetes.js';
import { KIND_HANDLERS, kindKey, parseSources } from '../../src/dialects/index.js';
import { hasErrors } from '../../src/ir/index.js';
import {
  P,
  SERVED,
  allowFrom,
  antreaTier,
  ciliumPolicy,
  denyAll,
  namespace,
  netpol,
  node,
  pod,
} from './kube-fixtures.js';
import { KubeReplay, pathOf } from './kube-replay.js';
import type { ReplayResource } from './kube-replay.js';

const NP = (ns: string, name: string): string => `k8s:networkpolicies.networking.k8s.io/${ns}/${name}`;

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** What the agent would have received, and a poller over it. */
class Recorder {
  readonly snapshots: DesiredObjects[] = [];
  readonly healths: SourceHealth[] = [];
  readonly logs: LogLine[] = [];
  readonly handlers = {
    snapshot: (o: DesiredObjects): void => void this.snapshots.push(o),
    health: (h: SourceHealth): void => void this.healths.push(h),
    log: (level: string, msg: string, fields?: Record<string, unknown>): void =>
      void this.logs.push({ level, msg, fields }),
  };

  get snapshot(): DesiredObjects | undefined {
    return this.snapshots.at(-1);
  }

  get health(): SourceHealth | undefined {
    return this.healths.at(-1);
  }

  async until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(
      `timed out waiting for ${what}\nhealth: ${JSON.stringify(this.healths)}\nsnapshot ids: ${JSON.stringify(
        [...(this.snapshot?.keys() ?? [])],
      )}\nlog: ${JSON.stringify(this.logs)}`,
    );
  }

  /** Resolves with the first snapshot after `count` snapshots that satisfies `ok`. */
  snapshotAfter(count: number, what: string, ok: (s: DesiredObjects) => boolean): Promise<DesiredObjects> {
    return this.until(what, () => this.snapshots.slice(count).find(ok));
  }
}

const FAST: KubernetesSourceOptions = {
  debounceMs: 20,
  maxBackoffMs: 300,
  minWatchIntervalMs: 20,
  revisionReportMs: 0,
  watchTimeoutSeconds: 120,
};

const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

interface World {
  readonly replay: KubeReplay;
  readonly rec: Recorder;
  readonly kubeconfig: string;
  close(): Promise<void>;
}

/** A replay server with namespace pal, nodes n1/n2, pods a, b (n1) and c (n2), and some policies. */
async function world(opts: KubernetesSourceOptions = {}): Promise<World> {
  const replay = await KubeReplay.start(SERVED);
  replay.put(P.namespaces, namespace('pal'));
  replay.put(P.nodes, node('n1', '172.18.0.2', '10.77.0.0/24'));
  replay.put(P.nodes, node('n2', '172.18.0.3', '10.77.1.0/24'));
  replay.put(P.pods, pod('a', 'pal', 'n1', '10.77.0.10'));
  replay.put(P.pods, pod('b', 'pal', 'n1', '10.77.0.11'));
  replay.put(P.pods, pod('c', 'pal', 'n2', '10.77.1.12'));
  replay.put(P.netpols, denyAll('pal'));
  replay.put(P.netpols, allowFrom('allow-b-to-a', 'pal', 'b', 'a', 80));
  replay.put(P.cilium, ciliumPolicy('cnp-c', 'pal', 'c'));
  replay.put(P.antreaTiers, antreaTier('pal-tier', 20));
  const dir = await mkdtemp(join(tmpdir(), 'pal-kube-'));
  tmpDirs.push(dir);
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, replay.kubeconfig());
  const source = kubernetesSource(kubeconfig, { ...FAST, ...opts });
  const rec = new Recorder();
  source.start(rec.handlers);
  return {
    replay,
    rec,
    kubeconfig,
    close: async () => {
      await source.stop();
      await replay.down();
    },
  };
}

async function withWorld(fn: (w: World) => Promise<void>, opts?: KubernetesSourceOptions): Promise<void> {
  const w = await world(opts);
  try {
    await fn(w);
  } finally {
    await w.close();
  }
}

const loaded = (s: DesiredObjects): ReturnType<typeof parseSources> =>
  parseSources([...s].map(([file, text]) => ({ file, text })));

describe('kubernetes datastore: initial list', () => {
  it('hands over pods, namespaces, nodes and policies the dialect loader reads without errors', () =>
    withWorld(async ({ replay, rec }) => {
      const snap = await rec.until('the first snapshot', () => rec.snapshot);
      assert.equal(rec.snapshots.length, 1, 'one snapshot once every resource is listed');
      assert.deepEqual([...snap.keys()].sort(), [
        'k8s:ciliumnetworkpolicies.cilium.io/pal/cnp-c',
        'k8s:namespaces/_/pal',
        NP('pal', 'allow-b-to-a'),
        NP('pal', 'default-deny'),
        'k8s:nodes/_/n1',
        'k8s:nodes/_/n2',
        'k8s:pods/pal/a',
        'k8s:pods/pal/b',
        'k8s:pods/pal/c',
        'k8s:tiers.crd.antrea.io/_/pal-tier',
      ]);
      const { value, diagnostics } = loaded(snap);
      assert.deepEqual(diagnostics, []);
      assert.deepEqual(
        value.cluster.endpoints.map((e) => [`${e.namespace}/${e.name}`, e.node, e.ips]),
        [
          ['pal/a', 'n1', ['10.77.0.10']],
          ['pal/b', 'n1', ['10.77.0.11']],
          ['pal/c', 'n2', ['10.77.1.12']],
        ],
      );
      assert.deepEqual(value.cluster.nodes.map((n) => n.name).sort(), ['n1', 'n2']);
      assert.deepEqual(value.policies.map((p) => `${p.ref.kind}/${p.ref.name}`).sort(), [
        'CiliumNetworkPolicy/cnp-c',
        'NetworkPolicy/allow-b-to-a',
        'NetworkPolicy/default-deny',
      ]);
      assert.ok(value.tiers.some((t) => t.name === 'antrea:pal-tier'));

      // List items come without apiVersion/kind: the source fills them in and drops managedFields.
      const podText = JSON.parse(snap.get('k8s:pods/pal/a') as string) as Record<string, unknown>;
      assert.equal(podText['apiVersion'], 'v1');
      assert.equal(podText['kind'], 'Pod');
      assert.equal((podText['metadata'] as Record<string, unknown>)['managedFields'], undefined);
      assert.ok(replay.requestsFor(P.pods, 'list').length === 1);

      const h = await rec.until('connected', () => rec.health?.connected === true && rec.health);
      assert.equal(h.revision, replay.resourceVersion);
      assert.ok(!rec.healths.some((x) => !x.connected), 'no resource was reported as failing');
    }));

  it('watches from the list resourceVersion and asks for bookmarks', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      await rec.until('a pods watch', () => replay.openWatches(P.pods) === 1);
      const [list] = replay.requestsFor(P.pods, 'list');
      const [watch] = replay.requestsFor(P.pods, 'watch');
      assert.ok(list !== undefined && watch !== undefined);
      assert.equal(watch.resourceVersion, replay.resourceVersion);
      assert.equal(watch.query['allowWatchBookmarks'], 'true');
      assert.equal(watch.query['timeoutSeconds'], '120');
    }));

  it('skips CRDs that are not installed with one log line each, and falls back to an older version', () =>
    withWorld(
      async ({ replay, rec }) => {
        await rec.until('the first snapshot', () => rec.snapshot);
        const servedNames = new Set(SERVED.map((r) => `${r.plural}.${r.group}`.replace(/\.$/, '')));
        const absent = KUBE_RESOURCES.map((r) =>
          r.group === '' ? r.plural : `${r.plural}.${r.group}`,
        ).filter((n) => !servedNames.has(n));
        assert.equal(absent.length, 9);
        // Probed again several times (absentRetryMs is short here), yet still said once.
        const probe = pathOf({ group: 'projectcalico.org', version: 'v3', plural: 'tiers' });
        await rec.until('re-probes', () => replay.requestsFor(probe, 'list').length >= 3);
        const skipped = rec.logs.filter((l) => l.msg === 'kubernetes resource not served; skipped');
        assert.deepEqual(skipped.map((l) => l.fields?.['resource']).sort(), absent.sort());
        assert.ok(!rec.healths.some((x) => !x.connected), 'a missing CRD is not an outage');
        // Antrea's v1beta1 answered 404 and v1alpha1 was watched instead.
        assert.equal(replay.requestsFor('/apis/crd.antrea.io/v1beta1/tiers', 'list')[0]?.status, 404);
        assert.equal(replay.requestsFor(P.antreaTiers, 'list')[0]?.status, 200);
        assert.equal(
          (
            JSON.parse(rec.snapshot?.get('k8s:tiers.crd.antrea.io/_/pal-tier') ?? '{}') as {
              apiVersion?: string;
            }
          ).apiVersion,
          'crd.antrea.io/v1alpha1',
        );

        // Installing a CRD later: the next probe picks it up.
        const calicoTiers: ReplayResource = {
          group: 'projectcalico.org',
          version: 'v3',
          plural: 'tiers',
          kind: 'Tier',
          crd: true,
        };
        replay.serve(calicoTiers);
        replay.put(pathOf(calicoTiers), {
          apiVersion: 'projectcalico.org/v3',
          kind: 'Tier',
          metadata: { name: 'security' },
          spec: { order: 100 },
        });
        const snap = await rec.until('the Calico tier', () =>
          rec.snapshot?.has('k8s:tiers.projectcalico.org/_/security') ? rec.snapshot : undefined,
        );
        assert.deepEqual(loaded(snap).diagnostics, []);
        assert.ok(rec.logs.some((l) => l.msg === 'kubernetes resource now served'));
      },
      { absentRetryMs: 100 },
    ));
});

describe('kubernetes datastore: watch events', () => {
  it('ADDED and DELETED change the snapshot; a BOOKMARK moves the revision only', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      let n = rec.snapshots.length;
      const rvAdd = replay.put(P.netpols, allowFrom('allow-a-to-c', 'pal', 'a', 'c', 8080));
      const added = await rec.snapshotAfter(n, 'the added policy', (s) => s.has(NP('pal', 'allow-a-to-c')));
      assert.deepEqual(loaded(added).diagnostics, []);
      await rec.until('revision of the add', () => rec.health?.revision === rvAdd);

      n = rec.snapshots.length;
      replay.remove(P.netpols, 'pal', 'allow-a-to-c');
      await rec.snapshotAfter(n, 'the deletion', (s) => !s.has(NP('pal', 'allow-a-to-c')));

      n = rec.snapshots.length;
      const before = rec.snapshot;
      const rv = replay.bookmark();
      await rec.until('the bookmark revision', () => rec.health?.revision === rv);
      // Health and snapshot are decided in the same flush: no snapshot came with the bookmark.
      assert.equal(rec.snapshots.length, n);
      assert.equal(rec.snapshot, before);
    }));

  it('a MODIFIED pod (new IP) reaches the endpoints', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      const n = rec.snapshots.length;
      replay.put(P.pods, pod('c', 'pal', 'n2', '10.77.1.99'));
      const s = await rec.snapshotAfter(n, 'the new IP', (x) =>
        (x.get('k8s:pods/pal/c') ?? '').includes('10.77.1.99'),
      );
      assert.deepEqual(loaded(s).value.cluster.endpoints.find((e) => e.name === 'c')?.ips, ['10.77.1.99']);
    }));

  it('a dropped watch is resumed from the last resourceVersion, without a relist', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      await rec.until('a pods watch', () => replay.openWatches(P.pods) === 1);
      const last = replay.resourceVersion;
      const lists = replay.requestsFor(P.pods, 'list').length;
      const watches = replay.requestsFor(P.pods, 'watch').length;
      assert.ok(replay.dropWatches() >= 4);
      const n = rec.snapshots.length;
      replay.put(P.pods, pod('d', 'pal', 'n1', '10.77.0.13'));
      await rec.snapshotAfter(n, 'the pod created after the drop', (s) => s.has('k8s:pods/pal/d'));
      const again = replay.requestsFor(P.pods, 'watch').slice(watches);
      assert.ok(again.length >= 1);
      assert.equal(again[0]?.resourceVersion, last, 'resumed where it was');
      assert.equal(replay.requestsFor(P.pods, 'list').length, lists, 'no relist');
      assert.ok(!rec.healths.some((x) => !x.connected), 'a dropped watch alone is no outage');
    }));
});

describe('kubernetes datastore: 410 Gone and outages', () => {
  it('an ERROR 410 event on open watches makes every resource relist and hands over a fresh snapshot', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      await rec.until('watches', () => replay.openWatches() === SERVED.length);
      const n = rec.snapshots.length;
      const lists = replay.requestsFor(P.netpols, 'list').length;
      replay.compact({ expireOpen: true });
      const fresh = await rec.snapshotAfter(n, 'the resync snapshot', () => true);
      await rec.until('the relist of every resource', () =>
        SERVED.every((r) => replay.requestsFor(pathOf(r), 'list').length >= lists + 1),
      );
      assert.equal(fresh.size, rec.snapshots[0]?.size);
      assert.ok(rec.logs.some((l) => l.msg === 'kubernetes watch expired; relisting'));
    }));

  it('after an outage with compacted history (410 as event and as HTTP status), the relist shows the gap', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      await rec.until('watches', () => replay.openWatches() === SERVED.length);
      const lists = replay.requestsFor(P.netpols, 'list').length;
      await replay.down();
      const down = await rec.until('disconnected', () => rec.health?.connected === false && rec.health);
      assert.match(down.error ?? '', /ECONNREFUSED/);
      // While the agent cannot see: one policy deleted, one added, a pod gone; then history compacted.
      replay.remove(P.netpols, 'pal', 'allow-b-to-a');
      replay.put(P.netpols, allowFrom('allow-c-to-a', 'pal', 'c', 'a', 443));
      replay.remove(P.pods, 'pal', 'b');
      replay.compact({ asStatus: P.netpols });
      const n = rec.snapshots.length;
      await replay.up();
      // Resources resync independently: wait for the snapshot that has caught up with all three changes.
      const s = await rec.snapshotAfter(
        n,
        'the gap',
        (x) =>
          !x.has(NP('pal', 'allow-b-to-a')) && x.has(NP('pal', 'allow-c-to-a')) && !x.has('k8s:pods/pal/b'),
      );
      await rec.until('connected again', () => rec.health?.connected === true);
      assert.ok(
        replay.requestsFor(P.netpols, 'watch').some((r) => r.status === 410),
        'HTTP 410 answered',
      );
      assert.ok(
        replay.requestsFor(P.pods, 'watch').some((r) => r.expired),
        'ERROR 410 event answered',
      );
      assert.ok(replay.requestsFor(P.netpols, 'list').length > lists, 'relisted');
      assert.deepEqual(loaded(s).diagnostics, []);
    }));

  it('server down: disconnected (last snapshot stays); back: connected, resumed from history, fresh snapshot', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      await rec.until('watches', () => replay.openWatches() === SERVED.length);
      const lists = replay.requestsFor(P.pods, 'list').length;
      await replay.down();
      await rec.until('disconnected', () => rec.health?.connected === false);
      const n = rec.snapshots.length;
      replay.put(P.pods, pod('e', 'pal', 'n1', '10.77.0.14'));
      await replay.up();
      await rec.until('connected again', () => rec.health?.connected === true);
      const s = await rec.snapshotAfter(n, 'a snapshot after the outage', (x) => x.has('k8s:pods/pal/e'));
      assert.equal(replay.requestsFor(P.pods, 'list').length, lists, 'resumed from history, no relist');
      assert.deepEqual(loaded(s).diagnostics, []);
      assert.ok(rec.logs.some((l) => l.msg === 'kubernetes list/watch failed; retrying'));
    }));

  it('a kubeconfig that cannot be read is a disconnected datastore, not a crash', async () => {
    const source = kubernetesSource('/nonexistent/pal-kubeconfig', FAST);
    const rec = new Recorder();
    source.start(rec.handlers);
    try {
      const h = await rec.until('disconnected', () => rec.health);
      assert.equal(h.connected, false);
      assert.match(h.error ?? '', /kubeconfig \/nonexistent\/pal-kubeconfig: .*ENOENT/);
      assert.equal(rec.snapshots.length, 0);
    } finally {
      await source.stop();
    }
  });
});

describe('kubernetes datastore: objects the agent rejects', () => {
  it('passes a malformed NetworkPolicy through; reconcile skips it with an event and keeps the rest', () =>
    withWorld(async ({ replay, rec }) => {
      await rec.until('the first snapshot', () => rec.snapshot);
      const n = rec.snapshots.length;
      replay.put(
        P.netpols,
        netpol('bad-port', 'pal', {
          podSelector: { matchLabels: { app: 'a' } },
          ingress: [{ ports: [{ protocol: 'TCP', port: 70000 }] }],
          policyTypes: ['Ingress'],
        }),
      );
      const s = await rec.snapshotAfter(n, 'the bad policy', (x) => x.has(NP('pal', 'bad-port')));
      const r = reconcile(s, new Map(), { node: 'n1' });
      assert.deepEqual(
        r.events.map((e) => [e.type, e.id, e.type === 'object-rejected' ? e.kept : '']),
        [['object-rejected', NP('pal', 'bad-port'), 'nothing']],
      );
      const rejected = r.events[0];
      assert.ok(rejected?.type === 'object-rejected');
      assert.match(rejected.diagnostics[0]?.message ?? '', /70000/);
      assert.equal(r.counts.endpoints, 2, 'pods a and b of node n1');
      assert.equal(r.counts.policies, 3, 'the two valid NetworkPolicies and the Cilium policy');
      assert.ok(!hasErrors(r.warnings));
    }));
});

describe('kubernetes datastore: configuration', () => {
  it('parses and describes kubernetes and kubernetes:PATH', () => {
    assert.deepEqual(parseDatastore('kubernetes'), { kind: 'kubernetes' });
    assert.deepEqual(parseDatastore('kubernetes:/etc/kube/config'), {
      kind: 'kubernetes',
      kubeconfig: '/etc/kube/config',
    });
    assert.equal(describeDatastore(parseDatastore('kubernetes:/k')), 'kubernetes:/k');
    assert.equal(describeDatastore(parseDatastore('kubernetes')), 'kubernetes');
    assert.throws(() => parseDatastore('kubernetes:'), /kubernetes:KUBECONFIG/);
  });

  it('reads $KUBECONFIG, then ~/.kube/config, and refuses to guess when there is neither', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pal-kube-'));
    tmpDirs.push(dir);
    const replay = await KubeReplay.start([]);
    try {
      const file = join(dir, 'config');
      await writeFile(file, replay.kubeconfig());
      const viaEnv = loadKubeConfig(KubeConfig, undefined, { KUBECONFIG: file }, '/nonexistent');
      assert.equal(viaEnv.kc.getCurrentCluster()?.server, replay.url);
      assert.throws(() => loadKubeConfig(KubeConfig, undefined, {}, '/nonexistent'), /no kubeconfig/);
      await writeFile(join(dir, 'empty'), 'apiVersion: v1\nkind: Config\n');
      assert.throws(() => loadKubeConfig(KubeConfig, join(dir, 'empty'), {}), /names no cluster/);
    } finally {
      await replay.down();
    }
  });

  it('palisade apply|delete refuses the Kubernetes API and points at kubectl', async () => {
    await assert.rejects(writeObjects({ kind: 'kubernetes' }, [], 'apply'), /use kubectl apply/);
    await assert.rejects(writeObjects({ kind: 'kubernetes' }, [], 'delete'), /use kubectl delete/);
  });

  it('watches a resource for every kind the dialects read, at the versions they accept', () => {
    const watched = new Set(
      KUBE_RESOURCES.flatMap((r) => r.versions.map((v) => kindKey(apiVersionOf(r, v), r.kind))),
    );
    assert.deepEqual([...watched].sort(), Object.keys(KIND_HANDLERS).sort());
  });
});
