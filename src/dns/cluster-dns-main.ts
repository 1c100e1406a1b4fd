/**
 * `pal-cluster-dns --listen HOST:PORT --records FILE [--lab=<id>]`: the lab's cluster DNS as a process,
 * to run inside the DNS pod's netns (e.g. `ip netns exec <pod-netns> node dist/src/dns/cluster-dns-main.js
 * --listen 10.96.0.10:53 --records …`). It serves UDP and TCP on HOST:PORT (port 0 picks one), prints
 * `ready HOST:PORT` once both are bound, reads FILE again on SIGHUP (`reloaded`; an invalid file is
 * reported on stderr and the records in use are kept), and exits 0 on SIGTERM, SIGINT or, when its stdin
 * is a pipe, when that closes (the lab holds the other end). Exit 2: bad arguments or records at start; 1: could not listen.
 * `--lab=<id>` is not read; it tells the lab's cleanup whose process this is.
 */
import { readFile } from 'node:fs/promises';
import { fstatSync } from 'node:fs';
import { ClusterDnsServer } from './cluster-dns.js';
import type { ClusterDnsTable } from './cluster-dns.js';
import { parseClusterDnsFile, parseListen } from './cluster-dns-file.js';

process.title = 'pal-cluster-dns';

function fail(code: number, message: string): never {
  process.stderr.write(`pal-cluster-dns: ${message}\n`);
  process.exit(code);
}

async function load(file: string): Promise<ClusterDnsTable> {
  const result = parseClusterDnsFile(await readFile(file, 'utf8'));
  if (!result.ok)
    throw new Error(`${file}: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.table;
}

const args = process.argv.slice(2).filter((a) => !a.startsWith('--lab='));
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const listenArg = flag('--listen');
const file = flag('--records');
if (!listenArg || !file) fail(2, 'usage: pal-cluster-dns --listen HOST:PORT --records FILE');
const listen = parseListen(listenArg);
if (!listen) fail(2, `--listen ${JSON.stringify(listenArg)}: not IP:PORT`);

let table: ClusterDnsTable;
try {
  table = await load(file);
} catch (err) {
  fail(2, (err as Error).message);
}
const server = new ClusterDnsServer({ table });
let bound: { host: string; port: number };
try {
  bound = await server.listen(listen);
} catch (err) {
  fail(1, `listen ${listenArg}: ${(err as Error).message}`);
}

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Only a pipe is someone holding the other end; /dev/null or a terminal would end us at once or never.
if (stdinIsPipe()) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
process.on('SIGHUP', () => {
  load(file).then(
    (next) => {
      server.setTable(next);
      process.stdout.write('reloaded\n');
    },
    (err: Error) => process.stderr.write(`pal-cluster-dns: reload kept the old records: ${err.message}\n`),
  );
});
const host = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
process.stdout.write(`ready ${host}:${bound.port}\n`);

function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}
