/**
 * `pal-bsync-bridge --port N --unix PATH --lab=<id>`: listens on 127.0.0.1:N of the netns it runs in and
 * relays every connection to the unix socket PATH. Agents run inside their node's netns, where 127.0.0.1
 * is the node's own loopback, so the bench's etcd (on the root netns' loopback) is unreachable there;
 * a unix socket is not tied to a netns, so bench sync serves one that leads to etcd (loopback-bridge.ts)
 * and runs this relay in each node netns, on etcd's own port, so that every agent uses etcd's own URL.
 * It lives exactly as long as its stdin (the bench holds the other end). `--lab=<id>` is for labDown.
 */
import { createConnection, createServer } from 'node:net';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const port = Number(arg('--port'));
const unix = arg('--unix');
if (!Number.isInteger(port) || port < 1 || port > 65535 || unix === undefined || unix === '') {
  process.stderr.write('pal-bsync-bridge: --port N and --unix PATH are required\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = createConnection({ path: unix });
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening 127.0.0.1:${port}\n`));
server.on('error', (e) => {
  process.stderr.write(`pal-bsync-bridge: ${e.message}\n`);
  process.exit(1);
});
const stop = (): void => process.exit(0);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
