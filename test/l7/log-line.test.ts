import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { observedResponse, parseL7LogLine } from '../../src/l7/log-line.js';

describe('the proxy log line', () => {
  it('reads back every field of LOG_FORMAT, quoted fields whole', () => {
    const l = parseL7LogLine(
      'L7 10.0.1.5 40112 10.0.2.7 80 403 PR - f.ab12 f.ab12 POST "/a b?x=\\"1\\"" "web:80" 1.1 - 3',
    );
    assert.deepEqual(l, {
      clientIp: '10.0.1.5',
      clientPort: 40112,
      serverIp: '10.0.2.7',
      serverPort: 80,
      status: 403,
      termination: 'PR',
      egress: '-',
      ingress: 'f.ab12',
      outcome: 'f.ab12',
      method: 'POST',
      path: '/a b?x="1"',
      host: 'web:80',
      version: '1.1',
      grpc: false,
      totalMs: 3,
    });
  });
  it('what the client observed: forwarded, the status of a denial, grpc:7, reset', () => {
    const base = 'L7 1.1.1.1 1 2.2.2.2 80';
    const cases: [string, string][] = [
      [`${base} 200 -- a.0 a.1 a.1 GET "/" "h" 1.1 - 1`, 'forwarded'],
      [`${base} 404 -- a.0 a.1 a.1 GET "/" "h" 1.1 - 1`, 'forwarded'],
      [`${base} 403 PR a.0 f.2 f.2 GET "/" "h" 1.1 - 1`, 'http:403'],
      [`${base} 200 PR a.0 f.2 f.2 POST "/S/M" "h" 2.0 grpc 1`, 'grpc:7'],
      [`${base} -1 PR a.0 r.3 r.3 GET "/" "h" 1.1 - 1`, 'reset'],
      [`${base} 403 PR - - u.0 GET "/" "h" 1.1 - 1`, 'http:403'],
    ];
    for (const [line, want] of cases) {
      const l = parseL7LogLine(line);
      assert.ok(l !== undefined, line);
      assert.equal(observedResponse(l), want, line);
    }
  });
  it('anything else is not a proxy line', () => {
    assert.equal(parseL7LogLine('[NOTICE] haproxy started'), undefined);
    assert.equal(parseL7LogLine('L7 too short'), undefined);
  });
});
