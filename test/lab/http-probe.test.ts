import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpRequest } from '../../src/engine/index.js';
import type { HttpMeasuredMatrix, HttpObservation, HttpSender } from '../../src/lab/http-probe.js';
import {
  classifyHttp,
  curlCommand,
  mergeHttpMatrices,
  parseCurlReport,
  probeHttpMatrix,
} from '../../src/lab/http-probe.js';

const obs = (o: Partial<HttpObservation>): HttpObservation => ({
  exitCode: 0,
  status: 200,
  headers: {},
  ...o,
});
const echoOf = (pod: string) => ({ 'x-palisade-pod': pod, 'content-type': 'application/json' });

void describe('classifyHttp: what the client observed, in the analyzer vocabulary', () => {
  const cases: [string, HttpObservation, boolean, ReturnType<typeof classifyHttp>][] = [
    ["the destination's echo answered", obs({ headers: echoOf('x/b') }), false, { response: 'forwarded' }],
    [
      'a proxy answered 403 itself (no pod header)',
      obs({ status: 403, headers: { 'content-type': 'text/html' } }),
      false,
      { response: 'http:403' },
    ],
    ['any other status a proxy gives', obs({ status: 503 }), false, { response: 'http:503' }],
    [
      "a gRPC call the destination's server answered OK",
      obs({ headers: { ...echoOf('x/b'), 'grpc-status': '0' } }),
      true,
      { response: 'forwarded' },
    ],
    [
      'a gRPC call denied by a proxy: grpc-status 7 in a trailers-only answer',
      obs({ headers: { 'content-type': 'application/grpc', 'grpc-status': '7' } }),
      true,
      { response: 'grpc:7' },
    ],
    [
      'a gRPC call answered by a proxy with 403 and no grpc-status',
      obs({ status: 403 }),
      true,
      { response: 'http:403' },
    ],
    [
      'grpc-status on a request that is not gRPC does not count',
      obs({ status: 403, headers: { 'grpc-status': '7' } }),
      false,
      { response: 'http:403' },
    ],
    ['connection refused (curl 7)', obs({ exitCode: 7, status: 0 }), false, { response: 'reset' }],
    ['closed without an answer (curl 52)', obs({ exitCode: 52, status: 0 }), false, { response: 'reset' }],
    ['reset while receiving (curl 56)', obs({ exitCode: 56, status: 0 }), false, { response: 'reset' }],
    ['HTTP/2 stream reset (curl 92)', obs({ exitCode: 92, status: 0 }), true, { response: 'reset' }],
    ['no answer in time (curl 28)', obs({ exitCode: 28, status: 0 }), false, { response: 'dropped' }],
    [
      'another pod answered: an error, never a pass',
      obs({ headers: echoOf('x/c') }),
      false,
      { error: 'answered by x/c, not by x/b' },
    ],
    [
      'curl failed otherwise',
      obs({ exitCode: 6, status: 0, message: 'curl: (6) Could not resolve host\n' }),
      false,
      { error: 'curl exited with 6: curl: (6) Could not resolve host' },
    ],
  ];
  for (const [name, o, grpc, want] of cases)
    void it(name, () => assert.deepEqual(classifyHttp(o, 'x/b', grpc), want));
});

void describe('parseCurlReport', () => {
  void it('reads the status mark and the fields of the header dump, trailers last', () => {
    const out =
      'HTTP/2 200 \r\ncontent-type: application/grpc\r\nx-palisade-pod: x/b\r\n\r\n' +
      'grpc-status: 0\r\n\npal-http-status:200';
    assert.deepEqual(parseCurlReport(out), {
      status: 200,
      headers: { 'content-type': 'application/grpc', 'x-palisade-pod': 'x/b', 'grpc-status': '0' },
    });
  });
  void it('no answer: status 0, no fields', () => {
    assert.deepEqual(parseCurlReport('\npal-http-status:000'), { status: 0, headers: {} });
    assert.deepEqual(parseCurlReport(''), { status: 0, headers: {} });
  });
  void it('field names in lower case; a value keeps its colons', () => {
    const r = parseCurlReport('HTTP/1.1 403 Forbidden\r\nX-Reason: a: b\r\n\r\n\npal-http-status:403');
    assert.deepEqual(r, { status: 403, headers: { 'x-reason': 'a: b' } });
  });
});

void describe('curlCommand', () => {
  const get: HttpRequest = { method: 'GET', path: '/a?b=1', headers: { Host: '10.0.0.2' } };
  void it('HTTP/1.1, the method, exactly the given fields (curl defaults removed), path as is', () => {
    const { argv, input } = curlCommand(get, '10.0.0.2', 8080, 1500);
    assert.equal(argv[0], 'curl');
    assert.ok(argv.includes('--http1.1') && !argv.includes('--http2-prior-knowledge'));
    assert.ok(argv.includes('--path-as-is') && argv.includes('--globoff'));
    assert.deepEqual(argv.slice(argv.indexOf('--max-time'), argv.indexOf('--max-time') + 2), [
      '--max-time',
      '1.500',
    ]);
    const headers = argv.flatMap((a, i) => (argv[i - 1] === '--header' ? [a] : []));
    assert.deepEqual(headers, ['User-Agent:', 'Accept:', 'Host: 10.0.0.2']);
    assert.deepEqual(argv.slice(argv.indexOf('--request'), argv.indexOf('--request') + 2), [
      '--request',
      'GET',
    ]);
    assert.equal(argv.at(-1), 'http://10.0.0.2:8080/a?b=1');
    assert.equal(input, '');
  });
  void it('a gRPC call: HTTP/2 prior knowledge and one empty message on stdin', () => {
    const call: HttpRequest = {
      method: 'POST',
      path: '/pkg.Svc/Get',
      headers: { 'content-type': 'application/grpc', Host: '10.0.0.2' },
    };
    const { argv, input } = curlCommand(call, '10.0.0.2', 50051, 1000);
    assert.ok(argv.includes('--http2-prior-knowledge') && !argv.includes('--http1.1'));
    assert.deepEqual(argv.slice(argv.indexOf('--data-binary'), argv.indexOf('--data-binary') + 2), [
      '--data-binary',
      '@-',
    ]);
    assert.equal(input, '\0\0\0\0\0');
  });
  void it('a given User-Agent is kept; an empty value is sent as `Name;`; HEAD uses --head', () => {
    const { argv } = curlCommand(
      { method: 'HEAD', path: '/', headers: { 'user-agent': 'x', 'X-Empty': '' } },
      '10.0.0.2',
      80,
      1000,
    );
    const headers = argv.flatMap((a, i) => (argv[i - 1] === '--header' ? [a] : []));
    assert.deepEqual(headers, ['Accept:', 'user-agent: x', 'X-Empty;']);
    assert.ok(argv.includes('--head') && !argv.includes('--request'));
  });
});

const pods = [
  { key: 'b/z', namespace: 'b', name: 'z', netns: 'pal-pz', ip: '10.0.0.3' },
  { key: 'a/y', namespace: 'a', name: 'y', netns: 'pal-py', ip: '10.0.0.2' },
  { key: 'a/x', namespace: 'a', name: 'x', netns: 'pal-px', ip: '10.0.0.1' },
];
const byIp = new Map(pods.map((p) => [p.ip, p.key]));
const byNetns = new Map(pods.map((p) => [p.netns, p.key]));
const requestFor = (dst: { key: string; ip: string }): HttpRequest => ({
  method: 'GET',
  path: '/x',
  headers: { Host: dst.ip },
});

/** A fake network answering as curl would print: `answer` decides per (from, to) and attempt. */
function fakeSender(answer: (from: string, to: string, attempt: number) => string | number): {
  send: HttpSender;
  calls: string[];
} {
  const calls: string[] = [];
  const seen = new Map<string, number>();
  const send: HttpSender = async (netns, argv) => {
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    const url = new URL(argv.at(-1) ?? '');
    const from = byNetns.get(netns) ?? '?';
    const to = byIp.get(url.hostname) ?? '?';
    const key = `${from}>${to}:${url.port || 80}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    calls.push(key);
    const a = answer(from, to, n);
    if (typeof a === 'number') return { code: a, stdout: '\npal-http-status:000', stderr: '' };
    return { code: 0, stdout: `HTTP/1.1 200 OK\r\n${a}\r\n\r\n\npal-http-status:200`, stderr: '' };
  };
  return { send, calls };
}

void describe('probeHttpMatrix', () => {
  const targets = [
    { port: 53, protocol: 'UDP' as const },
    { port: 80, protocol: 'TCP' as const },
    { port: 81, protocol: 'TCP' as const },
  ];
  void it('TCP targets only, in the order of analyze matrix --http; forwarded when the destination answers', async () => {
    const { send } = fakeSender((_from, to) => `x-palisade-pod: ${to}`);
    const m = await probeHttpMatrix({ pods }, targets, requestFor, { timeoutMs: 100, concurrency: 4, send });
    assert.deepEqual(m.pods, ['a/x', 'a/y', 'b/z']);
    const order = m.results.map((r) => `${r.protocol}/${r.port} ${r.from}>${r.to}`);
    const expected = ['TCP/80', 'TCP/81'].flatMap((t) =>
      m.pods.flatMap((f) => m.pods.map((to) => `${t} ${f}>${to}`)),
    );
    assert.deepEqual(order, expected);
    assert.ok(m.results.every((r) => r.response === 'forwarded' && r.allowed));
  });

  void it('a timeout gets one more look before it counts as dropped', async () => {
    const { send, calls } = fakeSender((from, to, attempt) =>
      from === 'a/x' && to === 'a/y' && attempt === 1 ? 28 : to === 'b/z' ? 28 : `x-palisade-pod: ${to}`,
    );
    const m = await probeHttpMatrix({ pods }, [{ port: 80, protocol: 'TCP' }], requestFor, {
      timeoutMs: 100,
      concurrency: 4,
      send,
    });
    const cell = (from: string, to: string) => m.results.find((r) => r.from === from && r.to === to);
    assert.equal(cell('a/x', 'a/y')?.response, 'forwarded', 'answered on the second look');
    assert.equal(cell('a/x', 'b/z')?.response, 'dropped');
    assert.equal(cell('a/x', 'b/z')?.allowed, false);
    assert.equal(calls.filter((c) => c === 'a/x>b/z:80').length, 2, 'exactly one second look');
  });

  void it('another pod answering is an error cell with its reason', async () => {
    const { send } = fakeSender(() => 'x-palisade-pod: a/x');
    const m = await probeHttpMatrix({ pods }, [{ port: 80, protocol: 'TCP' }], requestFor, {
      timeoutMs: 100,
      concurrency: 2,
      from: ['a/y'],
      to: ['b/z'],
      send,
    });
    assert.deepEqual(m.pods, ['a/y', 'b/z']);
    assert.deepEqual(m.results, [
      {
        from: 'a/y',
        to: 'b/z',
        port: 80,
        protocol: 'TCP',
        allowed: false,
        response: 'error',
        error: 'answered by a/x, not by b/z',
      },
    ]);
  });

  void it('each destination gets its own request (its Host)', async () => {
    const hosts: string[] = [];
    const send: HttpSender = (_netns, argv) => {
      hosts.push(argv.find((a) => a.startsWith('Host: ')) ?? '');
      return Promise.resolve({ code: 7, stdout: '', stderr: '' });
    };
    await probeHttpMatrix({ pods }, [{ port: 80, protocol: 'TCP' }], requestFor, {
      timeoutMs: 100,
      concurrency: 1,
      from: ['a/x'],
      send,
    });
    assert.deepEqual(hosts, ['Host: 10.0.0.1', 'Host: 10.0.0.2', 'Host: 10.0.0.3']);
  });

  void it('refuses unknown pods and more requests than the bound', async () => {
    const { send } = fakeSender(() => 7);
    const t = [{ port: 80, protocol: 'TCP' as const }];
    await assert.rejects(
      probeHttpMatrix({ pods }, t, requestFor, { timeoutMs: 1, concurrency: 1, from: ['a/nope'], send }),
      /no pod a\/nope/,
    );
    await assert.rejects(
      probeHttpMatrix({ pods }, t, requestFor, { timeoutMs: 1, concurrency: 1, maxRequests: 8, send }),
      /9 requests exceed 8/,
    );
  });
});

void describe('mergeHttpMatrices', () => {
  const cell = (port: number, from: string, to: string) => ({
    from,
    to,
    port,
    protocol: 'TCP' as const,
    allowed: true,
    response: 'forwarded' as const,
  });
  void it('groups of consecutive sources become one matrix in target, source, destination order', () => {
    const one: HttpMeasuredMatrix = {
      pods: ['a/x', 'a/y'],
      results: [
        cell(80, 'a/x', 'a/x'),
        cell(80, 'a/x', 'a/y'),
        cell(81, 'a/x', 'a/x'),
        cell(81, 'a/x', 'a/y'),
      ],
    };
    const two: HttpMeasuredMatrix = {
      pods: ['a/x', 'a/y'],
      results: [
        cell(80, 'a/y', 'a/x'),
        cell(80, 'a/y', 'a/y'),
        cell(81, 'a/y', 'a/x'),
        cell(81, 'a/y', 'a/y'),
      ],
    };
    const m = mergeHttpMatrices([one, two]);
    assert.deepEqual(m.pods, ['a/x', 'a/y']);
    assert.deepEqual(
      m.results.map((r) => `${r.port} ${r.from}>${r.to}`),
      [
        '80 a/x>a/x',
        '80 a/x>a/y',
        '80 a/y>a/x',
        '80 a/y>a/y',
        '81 a/x>a/x',
        '81 a/x>a/y',
        '81 a/y>a/x',
        '81 a/y>a/y',
      ],
    );
  });
  void it('pods sorted by namespace, then name', () => {
    const m = mergeHttpMatrices([
      { pods: ['b/a', 'a-b/c'], results: [] },
      { pods: ['a/z'], results: [] },
    ]);
    assert.deepEqual(m.pods, ['a/z', 'a-b/c', 'b/a']);
  });
});
