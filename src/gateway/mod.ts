/**
 * The HTTP gateway: request handler, server, and the pieces routes are built from.
 *
 * @module
 */

export { createApp } from "./app.ts";
export type { AppDeps, Handler } from "./app.ts";
export { apiKeyAuthenticator, noAuth } from "./auth.ts";
export type { Authenticate, KeyVerifier, Principal } from "./auth.ts";
export { natsCall, openBackend } from "../runs/backend.ts";
export type { OpenBackendOptions, RunsBackend } from "../runs/backend.ts";
export { readBodyCapped, readJsonBody, readMultipartBody } from "./body.ts";
export { HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
export type { FieldError, HttpErrorOptions } from "./errors.ts";
export { HttpMetrics, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
export { RUN_INDEX_FILTERS, RunIndex, UPDATED_AT_SKEW_SEC } from "../runs/run_index.ts";
export type {
  IndexedRun,
  RunChange,
  RunDeltaPage,
  RunDeltaQuery,
  RunFilterValues,
  RunIndexFilter,
  RunIndexOptions,
  RunIndexQuery,
  TenantTally,
} from "../runs/run_index.ts";
export { LIST_LIMIT, RUN_ID_PATTERN } from "./runs.ts";
export {
  buildRun,
  FLOW_NAME_PATTERN,
  publishJob,
  submitRun,
  validateRunRequest,
  validateYamlRequest,
} from "../runs/submit.ts";
export type {
  RunRequest,
  SubmitBackend,
  SubmitContext,
  SubmitOptions,
  YamlSubmission,
} from "../runs/submit.ts";
export { cancelledSnapshot, cancelRun } from "./cancel.ts";
export { CANCELLED_BY_REQUEST } from "../contract/wire.ts";
export { decodeCursor, DELTA_MAX_SCAN, encodeCursor } from "./delta.ts";
export type { DeltaCursor } from "./delta.ts";
export { EVENTS_LIMIT, lastEventSeq, readRunEvents } from "./events.ts";
export type { ReadRunEventsOptions, StoredRunEvent } from "./events.ts";
export { IDEMPOTENCY_HEADER, submitIdempotent, TAKEOVER_AFTER_MS } from "../runs/idempotency.ts";
export type {
  IdempotencyClaim,
  IdempotentAnswer,
  IdempotentSubmitContext,
} from "../runs/idempotency.ts";
export { parseLastEventId, WATCH_ALL_REPLAY_MAX } from "./watch.ts";
export type { LastEventId } from "./watch.ts";
export { livenessNow, readWorkers } from "./workers.ts";
export { isWorkerAlive, workerState, workerView } from "../contract/workers.ts";
export type { LivenessOptions, WorkerState } from "../contract/workers.ts";
export type { WorkerView } from "./workers.ts";
export { gatewayLogger, startGateway } from "./server.ts";
export type { GatewayHandle, StartGatewayOptions } from "./server.ts";

// What a gateway program needs around startGateway, and the types its API mentions.
export { ConfigError, loadConfig } from "../config.ts";
export type { Config, LoadConfigOptions } from "../config.ts";
export { Logger } from "../log.ts";
export type { LogFields, LoggerOptions, LogLevel, LogService } from "../log.ts";
export type { ConnectionState } from "../nats/connection.ts";
export type {
  ErrorBody,
  Job,
  JsonValue,
  RunSnapshot,
  RunStatus,
  RunSummary,
  SubmitResponse,
} from "../contract/wire.ts";
export type { ApiKeyFailureReason, ApiKeyVerification } from "../auth/verifier.ts";
export type { Priority } from "../contract/tenancy.ts";
