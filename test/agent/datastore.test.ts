import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  etcdKey,
  extractObjects,
  ObjectNameError,
  nameObject,
  parseDatastore,
  parseMetricsAddr,
} from '../../src/agent/index.js';
import { DENY_ALL, MALFORMED, json } from './support.js';

describe('datastore names', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'a Kubernetes policy is qualified by its group',
      DENY_ALL,
      '/palisade/NetworkPolicy.networking.k8s.io/pal/default-deny',
    ],
    [
      'a core object has a bare kind',
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'x' } },
      '/palisade/Pod/x/p',
    ],
    [
      'a cluster-scoped object uses _',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
      '/palisade/Namespace/_/x',
    ],
    [
      'Calico and Kubernetes NetworkPolicy do not collide',
      { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'x' } },
      '/palisade/NetworkPolicy.projectcalico.org/x/p',
    ],
  ];
  for (const [name, obj, key] of cases)
    it(name, () => {
      const n = nameObject(obj);
      assert.ok(n.ok);
      assert.equal(etcdKey(n.value), key);
    });

  it('refuses a name that would escape its key segment', () => {
    const n = nameObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: '../x' } });
    assert.ok(!n.ok);
    assert.ok(n.error instanceof ObjectNameError);
    assert.equal(n.error.field, 'metadata.name');
  });

  it('names the field at fault', () => {
    const field = (o: Record<string, unknown>): string | undefined => {
      const n = nameObject(o);
      return n.ok ? undefined : n.error.field;
    };
    assert.equal(field({ kind: 'Pod', metadata: { name: 'x' } }), 'apiVersion');
    assert.equal(field({ apiVersion: 'v1', metadata: { name: 'x' } }), 'kind');
    assert.equal(field({ apiVersion: 'v1', kind: 'Pod' }), 'metadata');
    assert.equal(
      field({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'a/b' } }),
      'metadata.namespace',
    );
    assert.equal(
      field({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'a' } }),
      undefined,
    );
  });
});

describe('datastore specs and addresses', () => {
  it('parses dir: and etcd:', () => {
    assert.deepEqual(parseDatastore('dir:/tmp/x'), { kind: 'dir', path: '/tmp/x' });
    assert.deepEqual(parseDatastore('etcd:http://127.0.0.1:2379'), {
      kind: 'etcd',
      hosts: ['http://127.0.0.1:2379'],
    });
    assert.throws(() => parseDatastore('etcd:127.0.0.1:2379'));
    assert.throws(() => parseDatastore('consul:x'));
  });
  it('serves metrics on loopback only', () => {
    assert.deepEqual(parseMetricsAddr('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseMetricsAddr('[::1]:9464'), { host: '::1', port: 9464 });
    assert.throws(() => parseMetricsAddr('0.0.0.0:9464'));
    assert.throws(() => parseMetricsAddr('10.0.0.1:9464'));
  });
});

describe('extractObjects', () => {
  it('unwraps Lists and refuses invalid objects when validating', () => {
    const list = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicyList',
      items: [{ metadata: DENY_ALL.metadata, spec: DENY_ALL.spec }],
    };
    const r = extractObjects([{ file: 'f', text: json(list) }]);
    assert.ok(r.ok);
    assert.equal(r.objects[0]?.kind, 'NetworkPolicy.networking.k8s.io');
    assert.equal(extractObjects([{ file: 'f', text: json(MALFORMED) }]).ok, false);
    assert.equal(extractObjects([{ file: 'f', text: json(MALFORMED) }], false).ok, true);
  });
});
