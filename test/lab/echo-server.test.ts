// The lab pods' HTTP echo server on loopback (no root): HTTP/1.1 and h2c on one port, gRPC answered OK,
// and the fixed request of the L3/L4 TCP probe.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { Agent } from 'node:http';
import { Agent as HttpAgent } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ECHO_NAME, echoArgv } from '../../src/lab/echo-process.js';
import type { EchoBody, EchoRequest } from '../../src/lab/echo-server.js';
import {
  POD_HEADER,
  PROBE_PATH,
  createEchoServer,
  echoAnswer,
  isGrpcContentType,
} from '../../src/lab/echo-server.js';

const pod = { namespace: 'ns1', name: 'web' };
const req = (path: string): EchoRequest => ({
  method: 'GET',
  path,
  host: '10.0.0.2',
  headers: { host: '10.0.0.2' },
  clientIP: '10.0.0.1',
  clientPort: 40000,
});

void describe('echoAnswer', () => {
  const cases: [string, string, number, string, string][] = [
    ['/hostname answers the pod name (agnhost netexec)', '/hostname', 200, 'text/plain', 'web'],
    ['/hostname with a query still answers the name', '/hostname?x=1', 200, 'text/plain', 'web'],
    ['/clientip answers ip:port (agnhost netexec)', '/clientip', 200, 'text/plain', '10.0.0.1:40000'],
    ['the probe path answers namespace/name', PROBE_PATH, 200, 'text/plain', 'ns1/web'],
  ];
  for (const [name, path, status, type, body] of cases) {
    void it(name, () => assert.deepEqual(echoAnswer(pod, req(path)), { status, contentType: type, body }));
  }
  void it('any other path answers the JSON echo, the path with its query', () => {
    const a = echoAnswer(pod, req('/a/b?c=d&e'));
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/json');
    assert.deepEqual(JSON.parse(a.body), {
      method: 'GET',
      path: '/a/b?c=d&e',
      host: '10.0.0.2',
      headers: { host: '10.0.0.2' },
      clientIP: '10.0.0.1',
      pod: 'ns1/web',
    });
  });
});

void describe('isGrpcContentType', () => {
  const cases: [string | undefined, boolean][] = [
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['Application/GRPC; charset=x', true],
    ['application/grpc-web', false],
    ['application/json', false],
    [undefined, false],
  ];
  for (const [value, want] of cases)
    void it(`${String(value)} → ${want}`, () => assert.equal(isGrpcContentType(value), want));
});

void describe('echoArgv', () => {
  const l = { netns: 'pal-x.p1', ip: '10.0.0.1', port: 80, pod: 'a/b' };
  void it("lists listener i as pal-listen's i-th NETNS:IP:PORT and the echo server's i-th pod key", () => {
    const argv = echoArgv('lab1', [l, { ...l, port: 81, pod: 'a/c' }], '/bin/pal-echo', '/e.js');
    assert.deepEqual(argv, [
      '--lab=lab1',
      'pal-x.p1:10.0.0.1:80',
      'pal-x.p1:10.0.0.1:81',
      '--',
      '/bin/pal-echo',
      '/e.js',
      '--lab=lab1',
      'a/b',
      'a/c',
    ]);
    assert.ok(ECHO_NAME.startsWith('pal-'), 'labDown only finds pal- processes');
  });
  const bad: [string, typeof l][] = [
    ['a netns with a slash', { ...l, netns: 'a/b' }],
    ['an IPv6 address', { ...l, ip: 'fd00::1' }],
    ['port 0', { ...l, port: 0 }],
    ['a pod key without namespace', { ...l, pod: 'b' }],
  ];
  for (const [name, listener] of bad)
    void it(`refuses ${name}`, () => assert.throws(() => echoArgv('lab1', [listener], 'n', 'e')));
});

void describe('createEchoServer on loopback', () => {
  let server: Server;
  let port = 0;
  let agent: Agent;
  before(async () => {
    server = createEchoServer(pod);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  });
  after(async () => {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string; localPort: number; pod: unknown }>((resolve, reject) => {
      const r = httpRequest({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            localPort: r.socket?.localPort ?? 0,
            pod: res.headers[POD_HEADER],
          }),
        );
      });
      r.on('error', reject);
      r.end();
    });

  void it('HTTP/1.1: the JSON echo with path, host, headers, the client address and the pod', async () => {
    const r = await get('/x/y?q=1', { 'X-Test': 'v' });
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as EchoBody;
    assert.equal(body.method, 'GET');
    assert.equal(body.path, '/x/y?q=1');
    assert.equal(body.host, `127.0.0.1:${port}`);
    assert.equal(body.headers['x-test'], 'v');
    assert.equal(body.clientIP, '127.0.0.1');
    assert.equal(body.pod, 'ns1/web');
    assert.equal(r.pod, 'ns1/web', `every answer carries ${POD_HEADER}`);
  });

  void it('HTTP/1.1 keep-alive: a second request on the same connection is answered too', async () => {
    const one = await get('/clientip');
    const two = await get('/clientip');
    assert.equal(one.body, `127.0.0.1:${one.localPort}`);
    assert.equal(two.body, one.body, 'same connection, same client port');
    assert.equal(two.pod, 'ns1/web', `/clientip's answer carries ${POD_HEADER} too`);
  });

  const h2 = (headers: Record<string, string>, body?: Buffer) =>
    new Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders; body: Buffer }>(
      (resolve, reject) => {
        const session = h2connect(`http://127.0.0.1:${port}`);
        session.on('error', reject);
        const stream = session.request(headers, { endStream: body === undefined });
        let got: IncomingHttpHeaders = {};
        let trailers: IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h) => (got = h));
        stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = t));
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          session.close();
          resolve({ headers: got, trailers, body: Buffer.concat(chunks) });
        });
        stream.on('error', reject);
        if (body !== undefined) stream.end(body);
      },
    );

  void it('h2c with prior knowledge on the same port: the JSON echo, :authority as host', async () => {
    const r = await h2({ ':method': 'GET', ':path': '/h2?z', 'x-test': 'w' });
    assert.equal(r.headers[':status'], 200);
    const body = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(body.path, '/h2?z');
    assert.equal(body.host, `127.0.0.1:${port}`);
    assert.equal(body.headers['x-test'], 'w');
    assert.equal(body.headers[':path'], undefined, 'no pseudo-headers among the headers');
    assert.equal(body.clientIP, '127.0.0.1');
    assert.equal(body.pod, 'ns1/web');
    assert.equal(r.headers[POD_HEADER], 'ns1/web');
  });

  void it('a gRPC call is answered OK: 200, application/grpc, one empty message, grpc-status 0', async () => {
    const message = Buffer.from([0, 0, 0, 0, 2, 8, 1]);
    const r = await h2(
      {
        ':method': 'POST',
        ':path': '/pkg.Service/Method',
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      message,
    );
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.deepEqual([...r.body], [0, 0, 0, 0, 0]);
    assert.equal(r.trailers['grpc-status'], '0');
    assert.equal(r.headers[POD_HEADER], 'ns1/web');
  });

  void it("the L3/L4 probe's fixed HTTP/1.0 request gets the pod key as body, then EOF", async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => s.write(`GET ${PROBE_PATH} HTTP/1.0\r\n\r\n`));
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), 'ns1/web');
  });
});
