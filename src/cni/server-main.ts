#!/usr/bin/env node
/**
 * `palisade-cni-server [--socket PATH]`: runs the CNI request server alone (the agent will embed it).
 * Stops cleanly on SIGTERM/SIGINT.
 */
import { DEFAULT_SERVER_SOCKET, startCniServer } from './server.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? (process.argv[i + 1] ?? DEFAULT_SERVER_SOCKET) : DEFAULT_SERVER_SOCKET;
const server = await startCniServer(socket);
process.stdout.write(`listening ${server.socket}\n`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
