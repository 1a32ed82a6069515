/**
 * HTTP client of the pyoco gateway. Web APIs only: runs in Deno, Node ≥ 18, Bun and browsers.
 *
 * @example
 * ```ts ignore
 * import { PyocoClient, PyocoHttpError } from "@pyoco/server/client";
 *
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * const { run_id } = await client.submitRun({ flowName: "hello", params: { x: 2 } });
 * const final = await client.waitForRun(run_id, { timeoutMs: 60_000 });
 * console.log(final.status); // "COMPLETED"
 *
 * // Live: snapshots and log lines until the run is terminal
 * for await (const item of client.watchRun(run_id, { events: true })) {
 *   if (item.type === "event" && item.event.type === "task.log") console.log(item.event.message);
 * }
 * ```
 *
 * @module
 */

export { PyocoClient } from "./client.ts";
export { DeadLetterClient } from "./dead_letters.ts";
export { ScheduleMethods } from "./schedules.ts";
export type {
  CreateScheduleRequest,
  CreateScheduleYamlRequest,
  SchedulePolicyInput,
  ScheduleRuleInput,
  ScheduleRunsOptions,
  ScheduleTime,
  UpdateScheduleRequest,
} from "./schedules.ts";
export type {
  OverlapPolicy,
  SchedulePriority,
  ScheduleRule,
  ScheduleRunRef,
  ScheduleRunRow,
  ScheduleStatus,
  ScheduleTriggerResponse,
  ScheduleType,
  ScheduleView,
} from "../contract/schedules.ts";
export type {
  DeadLetterFilter,
  ReplayManyItem,
  ReplayManyOptions,
  ReplayManyResponse,
  ReplayResponse,
} from "./dead_letters.ts";
export type {
  CallOptions,
  GetEventsOptions,
  GetRunOptions,
  HealthResponse,
  IterateEventsOptions,
  IterateRunsOptions,
  ListRunsOptions,
  ListRunsPageOptions,
  ListWorkersOptions,
  PyocoClientOptions,
  RetryOptions,
  RetryRunOptions,
  RetryRunResponse,
  RunEvent,
  RunEventsPage,
  RunFilterOptions,
  RunInclude,
  RunsPage,
  RunsWatchItem,
  RunWatchItem,
  SubmitRunRequest,
  SubmitRunsItem,
  SubmitRunsOptions,
  SubmitRunsProgress,
  SubmitRunYamlRequest,
  WaitForRunOptions,
  WatchRunOptions,
  WatchRunsOptions,
} from "./types.ts";
export {
  PyocoHttpError,
  PyocoNetworkError,
  PyocoTimeoutError,
  PyocoUnsupportedError,
} from "./errors.ts";
export type { FieldError, PyocoHttpErrorInit } from "./errors.ts";
export { isTerminal } from "../contract/mod.ts";
export type { FlowView } from "../contract/catalog.ts";
export type { Priority } from "../contract/tenancy.ts";
export type {
  DeadLetter,
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
} from "../contract/mod.ts";
