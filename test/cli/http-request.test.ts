import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpRequestOf } from '../../src/cli/http-request.js';
import { UsageError } from '../../src/cli/exit-codes.js';
import { ips, pod } from '../engine/builders.js';

const DST = { kind: 'endpoint', endpoint: pod('default/web', ips('10.0.0.2')) } as const;

describe('httpRequestOf (--http, -H)', () => {
  it('keeps the query in the path and defaults Host to the destination pod IP', () => {
    assert.deepEqual(httpRequestOf('GET /a/b?x=1', [], DST), {
      method: 'GET',
      path: '/a/b?x=1',
      headers: { Host: '10.0.0.2' },
    });
  });
  it('takes Host from -H in any case, and combines repeated headers', () => {
    assert.deepEqual(httpRequestOf('POST /', ['host: web:8080', 'X-A: 1', 'x-a: 2'], DST).headers, {
      host: 'web:8080',
      'X-A': '1, 2',
    });
  });
  it('brackets an IPv6 destination in the default Host', () => {
    assert.equal(httpRequestOf('GET /', [], { kind: 'ip', ip: 'fd00::1' }).headers.Host, '[fd00::1]');
  });
  const bad: { name: string; line: string; headers?: string[] }[] = [
    { name: 'no path', line: 'GET' },
    { name: 'a path without a leading slash', line: 'GET x' },
    { name: 'three words', line: 'GET / HTTP/1.1' },
    { name: 'a header without a colon', line: 'GET /', headers: ['X-A 1'] },
  ];
  for (const c of bad)
    it(`refuses ${c.name} with a usage error`, () =>
      assert.throws(() => httpRequestOf(c.line, c.headers ?? [], DST), UsageError));
});
