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
 * ```
 *
 * @module
 */

export { PyocoClient } from "./client.ts";
export type {
  CallOptions,
  GetRunOptions,
  HealthResponse,
  ListRunsOptions,
  ListWorkersOptions,
  PyocoClientOptions,
  RetryOptions,
  RunInclude,
  SubmitRunRequest,
  SubmitRunYamlRequest,
  WaitForRunOptions,
} from "./client.ts";
export { PyocoHttpError, PyocoNetworkError, PyocoTimeoutError } from "./errors.ts";
export type { FieldError, PyocoHttpErrorInit } from "./errors.ts";
export { isTerminal } from "../contract/mod.ts";
export type {
  ErrorBody,
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
