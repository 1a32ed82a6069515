/**
 * `task()` and `flow()`: define tasks and validate flows at construction. Web APIs only.
 *
 * @module
 */

import { jsonDepthError } from "../contract/limits.ts";
import { joinExprTasks, type ParsedGraph, parseGraph } from "./dsl.ts";
import { FlowDefinitionError } from "./errors.ts";
import { forEachSelector, parseOutputPath, SelectorSyntaxError } from "./selectors.ts";
import type {
  Flow,
  FlowEdge,
  FlowOptions,
  JoinRequirement,
  Task,
  TaskFn,
  TaskOptions,
} from "./types.ts";

const _TASK_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names that would clash with object internals where tasks are keyed by name. */
const _RESERVED_NAMES: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
const _OPTION_KEYS: ReadonlySet<string> = new Set([
  "inputs",
  "outputs",
  "retries",
  "retryDelaySec",
  "retryBackoff",
  "timeoutSec",
  "failPolicy",
]);
const _FLOW_KEYS: ReadonlySet<string> = new Set(["graph", "tasks", "defaults", "exposeEnv"]);

function _isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function _number(
  taskName: string,
  key: string,
  value: unknown,
  fallback: number,
  check: (n: number) => boolean,
  expected: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || !check(value)) {
    throw new FlowDefinitionError(
      `Invalid option "${key}" of task "${taskName}": expected ${expected}, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

/**
 * Defines a task: a named function `fn(ctx, input)` (sync or async) plus its options.
 *
 * @example Usage
 * ```ts
 * import { task } from "./task.ts";
 * import assert from "node:assert/strict";
 * const shout = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase(), {
 *   retries: 2,
 * });
 * assert.equal(shout.name, "shout");
 * assert.equal(shout.options.retries, 2);
 * assert.equal(shout.options.retryDelaySec, 0.1);
 * ```
 *
 * @param name Task name, `[A-Za-z_][A-Za-z0-9_]*`.
 * @param fn The function; its return value (awaited) is the task's output.
 * @param options Inputs mapping, output paths, retries, timeout and failure policy.
 * @returns The task, frozen.
 * @throws {FlowDefinitionError} When the name, the function or an option is invalid; the message
 * names the option.
 */
// deno-lint-ignore no-explicit-any
export function task<I = any, O = unknown>(
  name: string,
  fn: TaskFn<I, O>,
  options: TaskOptions = {},
): Task {
  if (typeof name !== "string" || !_TASK_NAME.test(name)) {
    throw new FlowDefinitionError(
      `Invalid task name ${
        JSON.stringify(name)
      }: expected letters, digits and "_", not starting with a digit`,
    );
  }
  if (_RESERVED_NAMES.has(name)) {
    throw new FlowDefinitionError(`Invalid task name "${name}": the name is reserved`);
  }
  if (typeof fn !== "function") {
    throw new FlowDefinitionError(`Invalid task "${name}": fn must be a function`);
  }
  if (!_isRecord(options)) {
    throw new FlowDefinitionError(`Invalid options of task "${name}": expected an object`);
  }
  for (const key of Object.keys(options)) {
    if (!_OPTION_KEYS.has(key)) {
      throw new FlowDefinitionError(`Unknown option "${key}" of task "${name}"`);
    }
  }
  const { inputs, outputs = [], failPolicy = "stop" } = options;
  if (inputs !== undefined && !_isRecord(inputs)) {
    throw new FlowDefinitionError(
      `Invalid option "inputs" of task "${name}": expected an object mapping names to values or selectors`,
    );
  }
  if (!Array.isArray(outputs)) {
    throw new FlowDefinitionError(
      `Invalid option "outputs" of task "${name}": expected an array of paths`,
    );
  }
  for (const path of outputs) {
    try {
      parseOutputPath(path);
    } catch (error) {
      throw new FlowDefinitionError(
        `Invalid option "outputs" of task "${name}": ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (failPolicy !== "stop" && failPolicy !== "isolate") {
    throw new FlowDefinitionError(
      `Invalid option "failPolicy" of task "${name}": expected "stop" or "isolate", got ${
        JSON.stringify(failPolicy)
      }`,
    );
  }
  const retries = _number(
    name,
    "retries",
    options.retries,
    0,
    (n) => Number.isInteger(n) && n >= 0 && n <= 1000,
    "an integer from 0 to 1000",
  );
  const retryDelaySec = _number(
    name,
    "retryDelaySec",
    options.retryDelaySec,
    0.1,
    (n) => n >= 0 && n <= 86_400,
    "a number of seconds from 0 to 86400",
  );
  const retryBackoff = _number(
    name,
    "retryBackoff",
    options.retryBackoff,
    2,
    (n) => n >= 1 && n <= 100,
    "a number from 1 to 100",
  );
  const timeoutSec = options.timeoutSec === undefined ? undefined : _number(
    name,
    "timeoutSec",
    options.timeoutSec,
    0,
    (n) => n > 0 && n <= 2_147_483,
    "a positive number of seconds (at most 2147483)",
  );
  return Object.freeze({
    kind: "pyoco.task" as const,
    name,
    fn: fn as TaskFn,
    options: Object.freeze({
      ...(inputs !== undefined ? { inputs } : {}),
      outputs: [...outputs],
      retries,
      retryDelaySec,
      retryBackoff,
      ...(timeoutSec !== undefined ? { timeoutSec } : {}),
      failPolicy,
    }),
  });
}

function _isTask(value: unknown): value is Task {
  return _isRecord(value) && value.kind === "pyoco.task" && typeof value.name === "string" &&
    typeof value.fn === "function" && _isRecord(value.options);
}

function _cloneDefaults(flowName: string, defaults: unknown): Record<string, unknown> {
  if (defaults === undefined) return {};
  if (!_isRecord(defaults)) {
    throw new FlowDefinitionError(`Invalid "defaults" of flow "${flowName}": expected an object`);
  }
  const tooDeep = jsonDepthError(defaults, { path: "defaults" });
  if (tooDeep !== null) {
    throw new FlowDefinitionError(`Invalid "defaults" of flow "${flowName}": ${tooDeep}`);
  }
  try {
    return structuredClone(defaults);
  } catch {
    return { ...defaults };
  }
}

/**
 * Finds a cycle with an iterative depth-first search over `downstream` and returns its path
 * (first name repeated at the end), or `null`.
 */
function _findCycle(order: readonly string[], downstream: Map<string, string[]>): string[] | null {
  const state = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
  for (const start of order) {
    if (state.has(start)) continue;
    const stack: { name: string; next: number }[] = [{ name: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const children = downstream.get(frame.name)!;
      if (frame.next >= children.length) {
        state.set(frame.name, 2);
        stack.pop();
        continue;
      }
      const child = children[frame.next++]!;
      const seen = state.get(child);
      if (seen === 1) {
        const names = stack.map((f) => f.name);
        return [...names.slice(names.indexOf(child)), child];
      }
      if (seen === undefined) {
        state.set(child, 1);
        stack.push({ name: child, next: 0 });
      }
    }
  }
  return null;
}

/**
 * Defines a flow: a graph over tasks, validated at construction.
 *
 * Every task named in the graph must be given in `tasks`, and every task given must appear in the
 * graph (a task outside the graph is almost always a mistake, so it is an error).
 *
 * @example Usage
 * ```ts
 * import { flow, task } from "./task.ts";
 * import assert from "node:assert/strict";
 * const a = task("a", () => 1);
 * const b = task("b", (_ctx, n: number) => n + 1);
 * const f = flow("demo", { graph: "a >> b", tasks: [a, b], defaults: { x: 1 } });
 * assert.deepEqual(f.order, ["a", "b"]);
 * assert.deepEqual(f.sinks, ["b"]);
 * ```
 *
 * @param name Flow name (non-empty, no whitespace).
 * @param options The graph DSL text, the tasks, default params and exposed env names.
 * @returns The validated flow, frozen.
 * @throws {FlowDefinitionError} For bad DSL (with line and column), unknown or duplicate task
 * names, tasks missing from the graph, cycles (naming the path), `$node.X` selectors naming a task
 * that is not upstream, and malformed selectors or options.
 */
export function flow(name: string, options: FlowOptions): Flow {
  const { graph, given, exposeEnv, defaults } = _checkFlowArgs(name, options);
  const parsed = parseGraph(graph);
  const taskMap = _graphTasks(name, { parsed, given });
  const names = [...taskMap.keys()];
  const { upstream, downstream, edges, requirements } = _wire(names, parsed);
  _checkNoCycle(name, { names, downstream, requirements });
  const order = _topologicalOrder(names, { upstream, downstream });
  _checkInputs(name, { taskMap, upstream });

  const frozenLists = <T>(m: Map<string, T[]>) =>
    new Map([...m].map(([k, v]) => [k, Object.freeze(v)] as const));
  return Object.freeze({
    kind: "pyoco.flow" as const,
    name,
    graph,
    defaults,
    exposeEnv: Object.freeze([...exposeEnv]),
    tasks: taskMap,
    requirements,
    upstream: frozenLists(upstream),
    downstream: frozenLists(downstream),
    edges: Object.freeze(edges),
    order: Object.freeze(order),
    sinks: Object.freeze(names.filter((n) => downstream.get(n)!.length === 0)),
  });
}

/** Checks the name and options of {@linkcode flow}; returns them with the tasks by name. */
function _checkFlowArgs(name: string, options: FlowOptions): {
  graph: string;
  given: Map<string, Task>;
  exposeEnv: string[];
  defaults: Record<string, unknown>;
} {
  if (typeof name !== "string" || name.length === 0 || /\s/.test(name) || name.length > 256) {
    throw new FlowDefinitionError(
      `Invalid flow name ${JSON.stringify(name)}: expected 1 to 256 characters without spaces`,
    );
  }
  if (!_isRecord(options)) {
    throw new FlowDefinitionError(`Invalid options of flow "${name}": expected an object`);
  }
  for (const key of Object.keys(options)) {
    if (!_FLOW_KEYS.has(key)) {
      throw new FlowDefinitionError(`Unknown option "${key}" of flow "${name}"`);
    }
  }
  const { graph, tasks, exposeEnv = [] } = options;
  if (!Array.isArray(tasks)) {
    throw new FlowDefinitionError(`Invalid "tasks" of flow "${name}": expected an array of tasks`);
  }
  if (!Array.isArray(exposeEnv) || exposeEnv.some((v) => typeof v !== "string")) {
    throw new FlowDefinitionError(
      `Invalid "exposeEnv" of flow "${name}": expected an array of names`,
    );
  }
  const defaults = _cloneDefaults(name, options.defaults);

  const given = new Map<string, Task>();
  tasks.forEach((t, i) => {
    if (!_isTask(t)) {
      throw new FlowDefinitionError(
        `Invalid "tasks" of flow "${name}": item ${i} is not a task (create it with task())`,
      );
    }
    if (given.has(t.name)) {
      throw new FlowDefinitionError(`Duplicate task name "${t.name}" in flow "${name}"`);
    }
    given.set(t.name, t);
  });
  return { graph, given, exposeEnv, defaults };
}

/** The graph's tasks in order of first appearance; every one given, every one given used. */
function _graphTasks(
  name: string,
  spec: { parsed: ParsedGraph; given: ReadonlyMap<string, Task> },
): Map<string, Task> {
  const { parsed, given } = spec;
  const taskMap = new Map<string, Task>();
  for (const node of parsed.nodes) {
    const t = given.get(node.name);
    if (t === undefined) {
      throw new FlowDefinitionError(
        `Unknown task "${node.name}" in the graph of flow "${name}" at line ${node.line}, column ${node.column}: it is not in "tasks"`,
        { line: node.line, column: node.column },
      );
    }
    taskMap.set(node.name, t);
  }
  for (const t of given.keys()) {
    if (!taskMap.has(t)) {
      throw new FlowDefinitionError(
        `Task "${t}" of flow "${name}" is not in the graph: add it to the graph or remove it from "tasks"`,
      );
    }
  }
  return taskMap;
}

/** Upstream and downstream lists, edges and requirements of each task, from the parsed graph. */
function _wire(names: string[], parsed: ParsedGraph) {
  const upstream = new Map<string, string[]>(names.map((n) => [n, []]));
  const downstream = new Map<string, string[]>(names.map((n) => [n, []]));
  const edges: FlowEdge[] = [];
  const requirements = new Map<string, readonly JoinRequirement[]>();
  for (const to of names) {
    const reqs = parsed.requirements.get(to) ?? [];
    requirements.set(to, reqs);
    const froms = new Set<string>();
    for (const req of reqs) joinExprTasks(req.when, froms);
    for (const from of froms) {
      upstream.get(to)!.push(from);
      downstream.get(from)!.push(to);
      edges.push({ from, to });
    }
  }
  return { upstream, downstream, edges, requirements };
}

/** Rejects a cycle, naming its path and where the graph closes it. */
function _checkNoCycle(name: string, spec: {
  names: string[];
  downstream: Map<string, string[]>;
  requirements: Map<string, readonly JoinRequirement[]>;
}): void {
  const { names, downstream, requirements } = spec;
  const cycle = _findCycle(names, downstream);
  if (cycle !== null) {
    const [last, first] = [cycle[cycle.length - 2]!, cycle[cycle.length - 1]!];
    const req = requirements.get(first)!.find((r) => joinExprTasks(r.when).has(last))!;
    throw new FlowDefinitionError(
      `Cycle in the graph of flow "${name}": ${
        cycle.join(" >> ")
      } (closed at line ${req.line}, column ${req.column})`,
      { line: req.line, column: req.column },
    );
  }
}

/** Kahn's algorithm; ties keep the order of first appearance. */
function _topologicalOrder(
  names: string[],
  spec: { upstream: Map<string, string[]>; downstream: Map<string, string[]> },
): string[] {
  const { upstream, downstream } = spec;
  const indegree = new Map(names.map((n) => [n, upstream.get(n)!.length]));
  const order: string[] = names.filter((n) => indegree.get(n) === 0);
  for (let i = 0; i < order.length; i++) {
    for (const next of downstream.get(order[i]!)!) {
      const left = indegree.get(next)! - 1;
      indegree.set(next, left);
      if (left === 0) order.push(next);
    }
  }
  return order;
}

/** Selectors in task inputs: well-formed, and `$node.X` only for transitive upstream tasks. */
function _checkInputs(
  name: string,
  spec: { taskMap: Map<string, Task>; upstream: Map<string, string[]> },
): void {
  const { taskMap, upstream } = spec;
  const ancestorsCache = new Map<string, Set<string>>();
  const ancestorsOf = (start: string): Set<string> => {
    let found = ancestorsCache.get(start);
    if (found) return found;
    found = new Set();
    const stack = [...upstream.get(start)!];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (found.has(n)) continue;
      found.add(n);
      stack.push(...upstream.get(n)!);
    }
    ancestorsCache.set(start, found);
    return found;
  };
  for (const t of taskMap.values()) {
    if (t.options.inputs === undefined) continue;
    try {
      forEachSelector(t.options.inputs, (selector, path) => {
        if (selector.source !== "node") return;
        if (!taskMap.has(selector.task)) {
          throw new FlowDefinitionError(
            `Invalid input "${path}" of task "${t.name}" in flow "${name}": $node.${selector.task} names a task that is not in the flow`,
          );
        }
        if (!ancestorsOf(t.name).has(selector.task)) {
          throw new FlowDefinitionError(
            `Invalid input "${path}" of task "${t.name}" in flow "${name}": $node.${selector.task} is not upstream of "${t.name}"`,
          );
        }
      });
    } catch (error) {
      if (!(error instanceof SelectorSyntaxError)) throw error;
      throw new FlowDefinitionError(
        `Invalid inputs of task "${t.name}" in flow "${name}": ${error.message}`,
        { cause: error },
      );
    }
  }
}
