import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { counterDelta, parseProxyCounters } from '../../src/lab/bench/l7-proxy-counters.js';

// Abridged `show stat` output of HAProxy 2.6: the columns are found by name, servers' rows are skipped.
const STAT = (
  econ: number,
  abrt: number,
): string => `# pxname,svname,qcur,ereq,econ,eresp,wretr,wredis,cli_abrt,srv_abrt,hrsp_4xx,hrsp_5xx,
pal_l7,FRONTEND,,2,,,,,,,7,0,
pal_h1,orig,0,,${econ},0,0,0,${abrt},0,,0,
pal_h1,BACKEND,0,,${econ},0,0,0,${abrt},0,,0,
pal_h2,BACKEND,0,,0,1,0,0,0,0,,0,
`;

describe('bench l7: the proxy counters of the churn check', () => {
  it('sums frontend and backend rows, once each', () => {
    const c = parseProxyCounters(STAT(3, 5), 'Name: HAProxy\nPid: 42\n');
    assert.equal(c['econ'], 3);
    assert.equal(c['cli_abrt'], 5);
    assert.equal(c['ereq'], 2);
    assert.equal(c['eresp'], 1);
    assert.equal(c['hrsp_4xx'], 7);
    assert.equal(c['pid'], 42);
  });
  it('a delta is what was gained, or all of the new worker when it changed', () => {
    const a = parseProxyCounters(STAT(3, 5), 'Pid: 42\n');
    assert.deepEqual(counterDelta(a, parseProxyCounters(STAT(4, 9), 'Pid: 42\n'))?.['econ'], 1);
    const other = counterDelta(a, parseProxyCounters(STAT(1, 0), 'Pid: 43\n'));
    assert.equal(other?.['worker_changed'], 1);
    assert.equal(other?.['econ'], 1);
    assert.equal(counterDelta(undefined, a), null);
  });
});
