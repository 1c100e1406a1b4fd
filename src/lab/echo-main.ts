/**
 * `pal-echo --lab=<id> NS/NAME...`: the HTTP echo server of every pod of a lab (echo-server.ts), in one
 * process. It is exec'd by native/pal-listen, which created the listening sockets inside the pods' netns:
 * the i-th pod key names the pod of file descriptor 3+i. It prints `ready` once every socket is served and
 * exits when its stdin closes (the lab holds the other end) or, through PR_SET_PDEATHSIG, when its parent
 * dies. `--lab=<id>` is never read here; it tells labDown whose process it is.
 */
import { createEchoServer } from './echo-server.js';

const keys = process.argv.slice(2).filter((a) => !a.startsWith('--lab='));
const servers = keys.map((key, i) => {
  const slash = key.indexOf('/');
  if (slash <= 0) {
    process.stderr.write(`pal-echo: "${key}" is not NAMESPACE/NAME\n`);
    process.exit(2);
  }
  const server = createEchoServer({ namespace: key.slice(0, slash), name: key.slice(slash + 1) });
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd: 3 + i }, () => resolve());
  });
});
try {
  await Promise.all(servers);
} catch (err) {
  process.stderr.write(`pal-echo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
const stop = (): void => process.exit(0);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.stdout.write('ready\n');
