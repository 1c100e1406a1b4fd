/**
 * The driver of `palisade bench cni`: runs inside the bench's node netns (so that, as a runtime would, it
 * starts the plugins there), reads the jobs as JSON on stdin, runs them one after another and prints the
 * rows as JSON on stdout. Progress goes to stderr.
 */
import type { Job, Row } from './cni.js';
import { runJob } from './cni.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const jobs = JSON.parse(Buffer.concat(chunks).toString()) as Job[];
const rows: Row[] = [];
for (const job of jobs) {
  rows.push(await runJob(job));
  process.stderr.write(`bench cni: ${job.variant} ${job.pods.length} ${job.mode} done\n`);
}
process.stdout.write(JSON.stringify(rows));
