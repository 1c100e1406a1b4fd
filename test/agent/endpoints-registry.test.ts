// A CNI endpoint record becomes a registered endpoint, or a typed error naming what the runtime left out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointRecordError, endpointOf } from '../../src/agent/endpoints-registry.js';
import type { EndpointRecord } from '../../src/cni/endpoints.js';

const RECORD: EndpointRecord = {
  version: 1,
  network: 'pal',
  containerId: 'c1',
  ifname: 'eth0',
  netns: '/var/run/netns/pal-x',
  mode: 'routed',
  state: 'ready',
  hostIfname: 'palh1',
  ips: ['10.1.0.5', '10.1.0.5', 'fd00::0:5'],
  pod: { namespace: 'ns', name: 'web' },
  createdAt: '2026-12-07T00:00:00Z',
};

void describe('endpointOf', () => {
  void it('names the pod and keeps each IP once, canonical', () => {
    const e = endpointOf(RECORD);
    assert.ok(e.ok);
    assert.deepEqual(e.value, {
      network: 'pal',
      containerId: 'c1',
      ifname: 'eth0',
      pod: 'ns/web',
      ips: ['10.1.0.5', 'fd00::5'],
      hostIfname: 'palh1',
    });
  });

  const bad: [string, Partial<EndpointRecord>, EndpointRecordError['reason']][] = [
    ['a record without the pod (no K8S_POD_* in CNI_ARGS)', { pod: { namespace: 'ns' } }, 'no-pod'],
    ['an address that is not an IP', { ips: ['10.1.0.5', 'ten'] }, 'bad-ip'],
    ['no address at all', { ips: [] }, 'no-ip'],
  ];
  for (const [name, change, reason] of bad)
    void it(`refuses ${name}`, () => {
      const e = endpointOf({ ...RECORD, ...change });
      assert.ok(!e.ok);
      assert.ok(e.error instanceof EndpointRecordError);
      assert.equal(e.error.reason, reason);
      assert.match(e.error.message, /^endpoint c1\/eth0/);
    });
});
