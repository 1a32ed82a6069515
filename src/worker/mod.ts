/**
 * The worker: `PyocoWorker` and its building blocks (job validation, snapshot compaction and
 * mirroring, run events, dead letters, liveness record), plus the flow registry loader.
 *
 * @module
 */

export { PyocoWorker, WorkerOptionError } from "./worker.ts";
export { CANCELLED_BY_REQUEST } from "../contract/wire.ts";
export type {
  ConnectOptions,
  JobOutcome,
  JobResult,
  PyocoWorkerOptions,
  RunOnceOptions,
  WorkerRegistry,
} from "./worker.ts";
export { actionOf, isValidRunId, parseJob } from "./job.ts";
export type { InvalidJob, ParsedJob, ValidJob } from "./job.ts";
export { compactSnapshot, jsonBytes } from "./compact.ts";
export type { CompactResult } from "./compact.ts";
export { pendingSnapshotFromJob, writeFailedSnapshot } from "./snapshot.ts";
export type { FailSnapshotOptions } from "./snapshot.ts";
export { RunMirror, TerminalWriteError } from "./run_mirror.ts";
export type {
  FinishOptions,
  FinishResult,
  RunMirrorOptions,
  RunProgress,
  TerminalFields,
} from "./run_mirror.ts";
export { executionErrorText } from "./run_execution.ts";
export { RunEventPublisher } from "./events.ts";
export type {
  EventStats,
  RunEventPublisherOptions,
  WorkerEvent,
  WorkerOnlyEvent,
} from "./events.ts";
export {
  buildDlqMessage,
  DLQ_PAYLOAD_MAX_CHARS,
  invalidJobFields,
  jobDlqFields,
  publishDlq,
} from "./dead_letter.ts";
export type {
  DlqFields,
  InvalidJobContext,
  JobDlqOptions,
  PublishDlqOptions,
} from "./dead_letter.ts";
export { WORKER_VERSION, WorkerHeartbeat } from "./heartbeat.ts";
export type { WorkerHeartbeatOptions } from "./heartbeat.ts";
export {
  isFlow,
  isTask,
  loadRegistry,
  ModuleLoadError,
  RegistryConflictError,
} from "../host/registry.ts";
export type { Registry } from "../host/registry.ts";

// What a worker program needs around PyocoWorker, and the types its API mentions.
export { ConfigError, loadConfig } from "../config.ts";
export type { Config, LoadConfigOptions } from "../config.ts";
export { Logger } from "../log.ts";
export type { LogFields, LoggerOptions, LogLevel, LogService } from "../log.ts";
export type { Versioned } from "../nats/kv.ts";
export type {
  DlqMessage,
  DlqReason,
  Job,
  JsonValue,
  RunSnapshot,
  TaskRecord,
  TaskState,
  WorkerRecord,
} from "../contract/wire.ts";
export type {
  FailPolicy,
  Flow,
  FlowEdge,
  FlowEvent,
  JoinExpr,
  JoinRequirement,
  RunResult,
  Task,
  TaskContext,
  TaskFn,
  TaskOptions,
} from "../flow/types.ts";
export type { Priority } from "../contract/tenancy.ts";
