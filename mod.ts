/**
 * `@pyoco/server`: run pyoco-style workflows (small DAGs of tasks) on a fleet of workers with
 * NATS JetStream as the only infrastructure.
 *
 * This root module is **portable** (web APIs only: Deno, Node ≥ 18, Bun, browsers): the flow
 * engine, flow.yaml support, the HTTP client and the wire types. The Deno programs are sub-paths:
 * `@pyoco/server/worker` (`PyocoWorker`) and `@pyoco/server/gateway` (`startGateway`).
 *
 * @example Define and run a flow in-process
 * ```ts
 * import { flow, runFlow, task } from "@pyoco/server";
 * import assert from "node:assert/strict";
 *
 * const fetchData = task("fetch_data", () => ({ id: 1, value: "carrot" }));
 * const shout = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase(), {
 *   retries: 2,
 * });
 * const hello = flow("hello", { graph: "fetch_data >> shout", tasks: [fetchData, shout] });
 * const result = await runFlow(hello, { params: { x: 2 } });
 * assert.equal(result.status, "COMPLETED");
 * assert.deepEqual(result.outputs, { shout: "CARROT" });
 * ```
 *
 * @example Submit a run to a gateway and wait for it
 * ```ts ignore
 * import { PyocoClient } from "@pyoco/server";
 *
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * const { run_id } = await client.submitRun({ flowName: "hello", params: { x: 2 } });
 * const done = await client.waitForRun(run_id, { timeoutMs: 30_000 });
 * console.log(done.status, done.outputs);
 * ```
 *
 * @module
 */

export {
  builtinTasks,
  DEFAULT_WORKFLOW_YAML_MAX_BYTES,
  flow,
  FlowDefinitionError,
  flowFromYaml,
  parseGraph,
  parseWorkflowYaml,
  runFlow,
  SelectorResolutionError,
  SelectorSyntaxError,
  task,
  TaskNotFoundError,
  TaskTimeoutError,
  toJsonSafe,
  WorkflowYamlError,
} from "./src/flow/mod.ts";
export type {
  FailPolicy,
  Flow,
  FlowEdge,
  FlowEvent,
  FlowFromYamlOptions,
  FlowOptions,
  GraphNode,
  JoinExpr,
  JoinRequirement,
  JsonValue,
  ParsedGraph,
  ParsedWorkflowYaml,
  ParseWorkflowYamlOptions,
  RunFlowOptions,
  RunProgress,
  RunResult,
  RunStatus,
  Task,
  TaskContext,
  TaskFn,
  TaskOptions,
  TaskRecord,
  TaskState,
  ToJsonSafeOptions,
  WorkflowConfig,
  WorkflowTaskConfig,
  WorkflowYamlReason,
} from "./src/flow/mod.ts";

export {
  DeadLetterClient,
  PyocoClient,
  PyocoHttpError,
  PyocoNetworkError,
  PyocoTimeoutError,
  PyocoUnsupportedError,
  ScheduleMethods,
} from "./src/client/mod.ts";
export type {
  CallOptions,
  CreateScheduleRequest,
  CreateScheduleYamlRequest,
  DeadLetter,
  DeadLetterFilter,
  FieldError,
  FlowView,
  GetEventsOptions,
  GetRunOptions,
  HealthResponse,
  IterateEventsOptions,
  IterateRunsOptions,
  ListRunsOptions,
  ListRunsPageOptions,
  ListWorkersOptions,
  OverlapPolicy,
  Priority,
  PyocoClientOptions,
  PyocoHttpErrorInit,
  ReplayManyItem,
  ReplayManyOptions,
  ReplayManyResponse,
  ReplayResponse,
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
  SchedulePolicyInput,
  SchedulePriority,
  ScheduleRule,
  ScheduleRuleInput,
  ScheduleRunRef,
  ScheduleRunRow,
  ScheduleRunsOptions,
  ScheduleStatus,
  ScheduleTime,
  ScheduleTriggerResponse,
  ScheduleType,
  ScheduleView,
  SubmitRunRequest,
  SubmitRunsItem,
  SubmitRunsOptions,
  SubmitRunsProgress,
  SubmitRunYamlRequest,
  UpdateScheduleRequest,
  WaitForRunOptions,
  WatchRunOptions,
  WatchRunsOptions,
} from "./src/client/mod.ts";

export {
  CANCELLED_BY_REQUEST,
  ErrId,
  isTerminal,
  msgIdFor,
  TAG_PATTERN,
  TERMINAL_STATUSES,
} from "./src/contract/mod.ts";
export type {
  DlqMessage,
  DlqReason,
  ErrIdValue,
  ErrorBody,
  Job,
  RunSnapshot,
  RunSummary,
  RunTasksView,
  RunView,
  SubmitResponse,
  WorkerRecord,
} from "./src/contract/mod.ts";
