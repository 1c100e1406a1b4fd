#!/usr/bin/env node
/**
 * `palisade-cni`: the plugin executable. Reads CNI_* and the config, runs the verb in this process, and
 * exits. This path pays Node's start-up (~60-80 ms here); the fast path is the C shim
 * (native/palisade-cni.c) handing the same request to a long-running server (server.ts) that calls the
 * same `runPlugin`.
 */
import { errorJson, IoFailureError } from './errors.js';
import { runPlugin } from './plugin.js';
import { CURRENT_VERSION, printJson } from './version.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let stdin = '';
let readError: unknown;
// VERSION reads the version it answers in from stdin; typed at a terminal, it answers without waiting.
if (process.env['CNI_COMMAND'] !== 'VERSION' || !process.stdin.isTTY) {
  try {
    stdin = await readStdin();
  } catch (err) {
    readError = err;
  }
}
if (readError !== undefined) {
  const e = new IoFailureError(
    `error reading from stdin: ${readError instanceof Error ? readError.message : 'unknown error'}`,
  );
  process.stdout.write(printJson(errorJson(e, CURRENT_VERSION)));
  process.exitCode = 1;
} else {
  const out = await runPlugin(process.env, stdin);
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  process.exitCode = out.exitCode;
}
