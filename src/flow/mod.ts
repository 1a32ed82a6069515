/**
 * The flow engine of `@pyoco/server`: define tasks and flows (pyoco-style DAGs) and run them
 * in-process. Runtime-neutral: web APIs only, so it runs in Deno, Node ≥ 18, Bun and browsers.
 *
 * @example Usage
 * ```ts
 * import { flow, runFlow, task } from "@pyoco/server/flow";
 * import assert from "node:assert/strict";
 *
 * const fetchData = task("fetch_data", () => ({ id: 1, value: "carrot" }));
 * const shout = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase());
 * const hello = flow("hello", { graph: "fetch_data >> shout", tasks: [fetchData, shout] });
 * const result = await runFlow(hello);
 * assert.equal(result.status, "COMPLETED");
 * assert.deepEqual(result.outputs, { shout: "CARROT" });
 * ```
 *
 * @module
 */

export { flow, task } from "./task.ts";
export { runFlow } from "./engine.ts";
export { toJsonSafe } from "./json.ts";
export type { ToJsonSafeOptions } from "./json.ts";
export { MAX_GRAPH_DEPTH, parseGraph } from "./dsl.ts";
export type { GraphNode, ParsedGraph } from "./dsl.ts";
export { SelectorResolutionError, SelectorSyntaxError } from "./selectors.ts";
export {
  FlowDefinitionError,
  TaskNotFoundError,
  TaskTimeoutError,
  WorkflowYamlError,
} from "./errors.ts";
export type { WorkflowYamlReason } from "./errors.ts";
export type {
  FailPolicy,
  Flow,
  FlowEdge,
  FlowEvent,
  FlowOptions,
  JoinExpr,
  JoinRequirement,
  JsonValue,
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
} from "./types.ts";

export { DEFAULT_WORKFLOW_YAML_MAX_BYTES, flowFromYaml, parseWorkflowYaml } from "./yaml.ts";
export type {
  FlowFromYamlOptions,
  ParsedWorkflowYaml,
  ParseWorkflowYamlOptions,
  WorkflowConfig,
  WorkflowTaskConfig,
} from "./yaml.ts";
export { builtinTasks } from "./builtins.ts";
