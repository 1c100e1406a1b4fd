/**
 * `pal-cni-server --socket PATH --lab=<id>`: the CNI request server of one lab node, started by
 * cni-host.ts inside the node's netns (the plugin's "host" is the netns it runs in). It is the lab's
 * stand-in for the node agent that hosts the server on a real node. It lives exactly as long as its
 * stdin: the lab holds the other end, so the server goes when the lab closes it or dies, SIGKILL
 * included (Node has no PR_SET_PDEATHSIG). `--lab=<id>` is never read here; it tells labDown whose it is.
 */
import { startCniServer } from '../cni/server.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? process.argv[i + 1] : undefined;
if (socket === undefined || socket === '') {
  process.stderr.write('pal-cni-server: --socket PATH is required\n');
  process.exit(2);
}
const server = await startCniServer(socket);
const stop = (): void => {
  void server.close().finally(() => process.exit(0));
  // Requests in flight get a moment; the lab kills a server that lingers.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`listening ${server.socket}\n`);
