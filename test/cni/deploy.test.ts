/**
 * deploy/ holds what a real cluster needs: RBAC, the DaemonSet with its CNI installer, the conflists.
 * Their shape is checked here without a cluster: kinds and references agree, every mount has a volume,
 * the installer writes where runtimes look, and each conflist is one the plugin itself accepts.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parsePalisadeConfig } from '../../src/cni/config.js';
import { parseRequestConfig } from '../../src/cni/env.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/version.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

async function load(): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const f of (await readdir(DEPLOY)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(DEPLOY, f), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${f} parses`);
      out.push(doc.toJS() as Obj);
    }
  }
  return out;
}

function one<T = Obj>(objs: Obj[], kind: string): T {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as T;
}

interface Container {
  name: string;
  image: string;
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: { privileged?: boolean };
}
interface DaemonSet extends Obj {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName: string;
        hostNetwork: boolean;
        tolerations: { operator: string }[];
        initContainers: Container[];
        containers: Container[];
        volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
      };
    };
  };
}

describe('deploy/ manifests', () => {
  it('RBAC: the DaemonSet runs as the bound service account, which may watch pods, namespaces and policies', async () => {
    const objs = await load();
    const sa = one(objs, 'ServiceAccount');
    const role = one<Obj & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }>(
      objs,
      'ClusterRole',
    );
    const binding = one<Obj & { roleRef: { name: string }; subjects: { name: string; namespace: string }[] }>(
      objs,
      'ClusterRoleBinding',
    );
    const ds = one<DaemonSet>(objs, 'DaemonSet');
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
    assert.equal(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
    assert.equal(ds.metadata.namespace, sa.metadata.namespace);
    const may = (group: string, resource: string, verb: string): boolean =>
      role.rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    for (const [g, r] of [
      ['', 'pods'],
      ['', 'namespaces'],
      ['', 'nodes'],
      ['networking.k8s.io', 'networkpolicies'],
      ['policy.networking.k8s.io', 'adminnetworkpolicies'],
    ] as const) {
      assert.ok(may(g, r, 'watch') && may(g, r, 'list'), `list+watch ${g}/${r}`);
    }
    assert.ok(
      !role.rules.some((r) => r.verbs.includes('*') || r.resources.includes('secrets')),
      'no wildcard, no secrets',
    );
  });

  it('DaemonSet: host network, tolerates every taint, selector matches, every mount has a volume', async () => {
    const ds = one<DaemonSet>(await load(), 'DaemonSet');
    const spec = ds.spec.template.spec;
    assert.equal(spec.hostNetwork, true);
    assert.ok(spec.tolerations.some((t) => t.operator === 'Exists'));
    for (const [k, v] of Object.entries(ds.spec.selector.matchLabels))
      assert.equal(ds.spec.template.metadata.labels[k], v);
    const volumes = new Set(spec.volumes.map((v) => v.name));
    for (const c of [...spec.initContainers, ...spec.containers]) {
      for (const m of c.volumeMounts ?? [])
        assert.ok(volumes.has(m.name), `${c.name} mounts declared volume ${m.name}`);
    }
    const hostPath = (name: string) => spec.volumes.find((v) => v.name === name)?.hostPath?.path;
    const installer = spec.initContainers.find((c) => c.name === 'install-cni');
    const mounts = new Map((installer?.volumeMounts ?? []).map((m) => [m.mountPath, hostPath(m.name)]));
    assert.equal(
      mounts.get('/host/opt/cni/bin'),
      '/opt/cni/bin',
      'installer writes the plugin where runtimes look',
    );
    assert.equal(mounts.get('/host/etc/cni/net.d'), '/etc/cni/net.d', 'and the conflist');
    const agent = spec.containers.find((c) => c.name === 'palisade');
    assert.equal(agent?.securityContext?.privileged, true, 'creating veths in pod netns needs it');
    assert.ok(
      agent?.volumeMounts?.some(
        (m) => m.mountPath === '/run/palisade' && hostPath(m.name) === '/run/palisade',
      ),
      'socket dir shared with the host',
    );
  });

  it('every conflist is valid for the plugin, fails closed, and uses a supported version', async () => {
    const objs = await load();
    const cm = one<Obj & { data: Record<string, string> }>(objs, 'ConfigMap');
    const ds = one<DaemonSet>(objs, 'DaemonSet');
    assert.ok(ds.spec.template.spec.volumes.some((v) => v.configMap?.name === cm.metadata.name));
    const names = Object.keys(cm.data).filter((k) => k.endsWith('.conflist'));
    assert.deepEqual(names.sort(), ['policy-only.conflist', 'routed.conflist']);
    for (const name of names) {
      const list = JSON.parse((cm.data[name] ?? '').replace(/__POD_CIDR__/g, '10.244.1.0/24')) as {
        cniVersion: string;
        name: string;
        plugins: Record<string, unknown>[];
      };
      assert.ok(SUPPORTED_VERSIONS.includes(list.cniVersion), `${name}: version ${list.cniVersion}`);
      const ours = list.plugins.filter((p) => p['type'] === 'palisade');
      assert.equal(ours.length, 1, `${name} has one palisade plugin`);
      const req = parseRequestConfig(
        JSON.stringify({ ...ours[0], cniVersion: list.cniVersion, name: list.name }),
      );
      const pal = parsePalisadeConfig(req);
      assert.equal(pal.failClosed, true);
      assert.equal(pal.agentSocket, '/run/palisade/agent.sock');
      if (pal.mode === 'policy-only')
        assert.notEqual(list.plugins[0]?.['type'], 'palisade', 'policy-only comes after an interface plugin');
    }
  });
});
