/**
 * The wire contract shared by gateway, worker and client: JSON types and error ids.
 *
 * @module
 */

export {
  CANCELLED_BY_REQUEST,
  isTerminal,
  nowSec,
  RUN_STATUSES,
  TAG_PATTERN,
  TERMINAL_STATUSES,
} from "./wire.ts";
export {
  DEFAULT_PRIORITY,
  isPriority,
  NO_TENANT,
  PRIORITIES,
  TENANT_PATTERN,
  tenantOf,
} from "./tenancy.ts";
export type { Priority } from "./tenancy.ts";
export type {
  DlqMessage,
  DlqReason,
  ErrorBody,
  Job,
  JsonValue,
  RunSnapshot,
  RunStatus,
  RunSummary,
  RunTasksView,
  RunView,
  SubmitResponse,
  TaskRecord,
  TaskState,
  WorkerRecord,
} from "./wire.ts";
export { ErrId, msgIdFor } from "./errors.ts";
export { jsonDepthError, MAX_JSON_DEPTH } from "./limits.ts";
export {
  BATCH_SEQ_BASE,
  encodeEventBatch,
  EVENT_BATCH_TYPE,
  eventPosition,
  eventSeq,
  expandEventMessage,
  MAX_EVENTS_PER_MESSAGE,
} from "./events.ts";
export type { EventPosition, RunEvent } from "./events.ts";
export type { DeadLetter } from "./views.ts";
export type { JsonDepthOptions } from "./limits.ts";
export type { ErrIdValue } from "./errors.ts";
