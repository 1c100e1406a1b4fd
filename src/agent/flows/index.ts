/** The flow log: kernel events → rate limit → attribution → rotating JSONL, plus its metrics. */
export { attributeFlow, involvesLocalPod, parseKernelPrefix, protocolName } from './attribute.js';
export type { AttributeOptions, AttributionContext, KernelTag } from './attribute.js';
export { FlowMetrics } from './flow-metrics.js';
export { DEFAULT_RATE_LIMIT, FlowRateLimiter } from './rate-limit.js';
export type { Admitted, RateLimitOptions } from './rate-limit.js';
export { FlowReader, defaultFlowdBinary, parseHelperLine } from './reader.js';
export type { FlowReaderOptions, HelperLine, KernelFlow, ParsedLine } from './reader.js';
export { FlowRecorder, flowKey, flowLogPathFor } from './recorder.js';
export type { FlowRecorderOptions } from './recorder.js';
export { parseFlowRecord } from './record.js';
export type * from './record.js';
export { DEFAULT_ROTATION, RotatingWriter, rotatedFiles } from './writer.js';
export type { RotationOptions } from './writer.js';
export { FlowLogTail, flowLogFiles, flowLogsIn, readLines } from './log-files.js';
export { matchesFilter } from './filter.js';
export type { FlowFilter } from './filter.js';
