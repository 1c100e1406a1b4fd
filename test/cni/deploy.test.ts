/**
 * deploy/ holds what a real cluster needs: RBAC, the DaemonSet with its CNI installer, the conflists.
 * Their shape is checked here without a cluster: kinds and references agree, every mount has a volume,
 * the installer writes where runtimes look, and each conflist is one the plugin itself accepts.
 */
import assert from 'node:assert/strict';
import { access, readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parsePalisadeConfig } from '../../src/cni/config.js';
import { PACKAGE_ROOT, SHIM_BINARY } from '../../src/cni/install.js';
import { DEFAULT_SERVER_SOCKET } from '../../src/cni/server.js';
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
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
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

/** The Dockerfile's stages: each `FROM … [AS name]` with its instructions, continuation lines joined. */
interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly lines: string[];
}

function stages(text: string): Stage[] {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out: { from: string; name?: string; lines: string[] }[] = [];
  for (const line of joined) {
    const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (m) out.push({ from: m[1] ?? '', ...(m[2] ? { name: m[2] } : {}), lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

/** Paths a stage's COPY lines create, absolute (WORKDIR-relative destinations resolved). */
function copied(stage: Stage): { src: string; dest: string; from?: string }[] {
  let workdir = '/';
  const out: { src: string; dest: string; from?: string }[] = [];
  for (const line of stage.lines) {
    const w = /^WORKDIR\s+(\S+)/.exec(line);
    if (w) workdir = w[1] ?? '/';
    const c = /^COPY\s+(?:--from=(\S+)\s+)?(.+)$/.exec(line);
    if (!c) continue;
    const parts = (c[2] ?? '').split(/\s+/);
    const dest = parts.pop() ?? '';
    const abs = dest.startsWith('/') ? dest : join(workdir, dest);
    for (const src of parts) {
      const target = dest.endsWith('/') ? join(abs, src.split('/').pop() ?? '') : abs;
      out.push({ src, dest: target, ...(c[1] ? { from: c[1] } : {}) });
    }
  }
  return out;
}

describe('deploy/Dockerfile and the DaemonSet agree', () => {
  const read = async () => {
    const objs = await load();
    const ds = one<DaemonSet>(objs, 'DaemonSet');
    const cm = one<Obj & { data: Record<string, string> }>(objs, 'ConfigMap');
    const all = stages(await readFile(join(DEPLOY, 'Dockerfile'), 'utf8'));
    const runtime = all.at(-1);
    const build = all.find((st) => st.name === 'build');
    assert.ok(runtime && build, 'a build stage and a runtime stage');
    return { ds, cm, runtime, build };
  };

  it('runtime stage: node:20-slim with nftables, iproute2 and conntrack; builds tsc output and the native helpers', async () => {
    const { runtime, build } = await read();
    assert.equal(runtime.from, 'node:20-slim');
    const apt = runtime.lines.find((l) => l.includes('apt-get install')) ?? '';
    for (const pkg of ['nftables', 'iproute2', 'conntrack']) assert.match(apt, new RegExp(`\\b${pkg}\\b`));
    const buildText = build.lines.join('\n');
    assert.match(buildText, /tsc -p tsconfig\.json/);
    // Every native binary the runtime stage takes from the build stage is compiled there, from a source
    // that exists in the repository.
    const natives = copied(runtime).filter((c) => c.from === 'build' && c.src.includes('/dist/native/'));
    assert.ok(natives.length >= 3, 'shim, pal-spawn and pal-flowd');
    for (const n of natives) {
      const bin = n.src.replace('/src/', '');
      const m = new RegExp(`-o ${bin.replace(/[.]/g, '\\.')} (native/\\S+\\.c)`).exec(buildText);
      assert.ok(m, `the build stage compiles ${bin}`);
      await access(join(PACKAGE_ROOT, m[1] ?? ''));
    }
  });

  it("the installer copies files the image has: the shim (install.ts's SHIM_BINARY) and the Node fallback", async () => {
    const { ds, runtime } = await read();
    const installer = ds.spec.template.spec.initContainers.find((c) => c.name === 'install-cni');
    const script = (installer?.args ?? []).join('\n');
    const made = copied(runtime).map((c) => c.dest);
    const used = [...script.matchAll(/(\/app\/\S+?)(?=["'\s]|$)/g)].map((m) => m[1] ?? '');
    assert.ok(used.length >= 3, 'the installer reads files from /app');
    for (const path of used) {
      assert.ok(
        made.some((d) => path === d || path.startsWith(`${d}/`)),
        `${path} is put in the image by a COPY of the runtime stage`,
      );
      // Compiled files come from a source that exists.
      if (path.startsWith('/app/dist/src/') && path.endsWith('.js'))
        await access(join(PACKAGE_ROOT, path.slice('/app/dist/'.length).replace(/\.js$/, '.ts')));
    }
    const shimInImage = `/app/${SHIM_BINARY.slice(PACKAGE_ROOT.length + 1)}`;
    assert.match(script, new RegExp(`install -m 0755 ${shimInImage} "\\$bin/\\.palisade\\.tmp"`));
    assert.match(
      script,
      /mv -f "\$bin\/\.palisade\.tmp" "\$bin\/palisade"\n/,
      'installed as plugin type palisade',
    );
    assert.match(script, /"\$bin\/palisade-node"\n/, 'the fallback lands where the shim looks for it');
    // The fallback's entry file is part of what the build stage copies into cni-fallback.
    const fallbackMade = (await read()).build.lines.find((l) => l.includes('cni-fallback/dist/src')) ?? '';
    assert.match(fallbackMade, /dist\/src\/cni/);
    assert.match(script, /palisade\.d\/dist\/src\/cni\/main\.js/);
    assert.ok(!/\$\(/.test(script), 'no $(…) in args: Kubernetes would try to expand it as a variable');
  });

  it('the agent runs `palisade agent` for its node from the Kubernetes API, serving the shim where the conflists point', async () => {
    const { ds, cm } = await read();
    const spec = ds.spec.template.spec;
    const agent = spec.containers.find((c) => c.name === 'palisade');
    assert.ok(agent);
    assert.deepEqual(agent.command, [
      'palisade',
      'agent',
      '--node',
      '$(NODE_NAME)',
      '--datastore',
      'kubernetes',
      '--cni-socket',
      DEFAULT_SERVER_SOCKET,
    ]);
    assert.equal(
      agent.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath,
      'spec.nodeName',
    );
    assert.equal(spec.hostNetwork, true);
    assert.equal(agent.securityContext?.privileged, true);
    const hostPath = (name: string) => spec.volumes.find((v) => v.name === name)?.hostPath?.path;
    // A socket or directory the plugin uses on the host is only the agent's if it is mounted at the same
    // path: the shim and the runtime use host paths.
    const sameOnHost = (path: string): boolean =>
      (agent.volumeMounts ?? []).some(
        (m) =>
          hostPath(m.name) === m.mountPath && (path === m.mountPath || path.startsWith(`${m.mountPath}/`)),
      );
    assert.ok(sameOnHost(DEFAULT_SERVER_SOCKET), 'the CNI socket the shim connects to');
    for (const dir of ['/opt/cni/bin', '/etc/cni/net.d', '/var/lib/cni', '/run/palisade'])
      assert.ok(sameOnHost(dir), `${dir} is a hostPath mounted at the same path`);
    assert.ok(
      (agent.volumeMounts ?? []).some((m) => m.mountPath === '/opt/cni/bin' && m.readOnly === true),
      'the agent reads the bin dir, only the installer writes it',
    );
    for (const [name, text] of Object.entries(cm.data)) {
      const list = JSON.parse(text.replace(/__POD_CIDR__/g, '10.244.1.0/24')) as {
        plugins: Record<string, unknown>[];
      };
      const ours = list.plugins.find((p) => p['type'] === 'palisade') ?? {};
      assert.equal(ours['failClosed'], true, `${name}: failClosed`);
      assert.ok(sameOnHost(String(ours['agentSocket'])), `${name}: agentSocket is in a mounted hostPath`);
      assert.equal(
        dirname(String(ours['agentSocket'])),
        dirname(DEFAULT_SERVER_SOCKET),
        `${name}: the agent's default --agent-socket with --cni-socket is beside the CNI socket`,
      );
      const ipam = ours['ipam'] as { dataDir?: string } | undefined;
      if (ipam?.dataDir !== undefined) assert.ok(sameOnHost(ipam.dataDir), `${name}: IPAM dataDir mounted`);
    }
  });
});
