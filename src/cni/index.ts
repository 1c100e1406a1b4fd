/** The CNI plugin's public surface for the lab, the agent and the tests. */
export { runPlugin, PLUGIN_ABOUT } from './plugin.js';
export type { PluginDeps } from './plugin.js';
export * from './errors.js';
export type * from './spec.js';
export {
  CURRENT_VERSION,
  SUPPORTED_VERSIONS,
  checkVersion,
  compareVersions,
  convertResult,
} from './version.js';
export { parseEnv, parseRequestConfig } from './env.js';
export { BUILTIN_IPAM, DEFAULT_STATE_DIR, parsePalisadeConfig, podIdentity } from './config.js';
export type { LogLevel, Mode, PalisadeConfig } from './config.js';
export { listRecords, readRecord, recordPath } from './endpoints.js';
export type { EndpointRecord } from './endpoints.js';
export { AGENT_PROTOCOL_VERSION, askAgent } from './agent-client.js';
export type { AgentOutcome, AgentReply, AgentRequest } from './agent-client.js';
export { DEFAULT_SERVER_SOCKET, startCniServer } from './server.js';
export type { CniServer } from './server.js';
export {
  PluginFailure,
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  invokePlugin,
} from './runtime.js';
export type { Attachment, NetworkList, RuntimeOptions } from './runtime.js';
export { execPlugin, findPlugin } from './exec.js';
export { hostIfname, vethMacs } from './kernel/names.js';
export { NODE_ENTRY, SERVER_ENTRY, SHIM_BINARY, builtBinary, installPlugin } from './install.js';
export type { PluginVariant } from './install.js';
export { GATEWAY_V4, GATEWAY_V6 } from './kernel/routed.js';
