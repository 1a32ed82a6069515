/**
 * The shape of a flow.yaml (SPEC §2.4): its types and the checks that turn a loaded document into
 * a {@linkcode WorkflowConfig}, every rejection a {@linkcode WorkflowYamlError} naming the key.
 * Free-form values (`flow.defaults`, task `inputs`) nest at most `MAX_JSON_DEPTH` levels.
 * Web APIs only.
 *
 * @module
 */

import { jsonDepthError } from "../contract/limits.ts";
import { parseGraph } from "./dsl.ts";
import { FlowDefinitionError, WorkflowYamlError } from "./errors.ts";
import { parseOutputPath, parseSelector, SelectorSyntaxError } from "./selectors.ts";
import type { FailPolicy, JsonValue } from "./types.ts";

const _NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const _ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const _CALLABLE_RE = /^[^:\s]+:[A-Za-z_$][A-Za-z0-9_$]*$/;

const _TOP_KEYS = ["version", "flow", "tasks", "runtime"] as const;
const _FLOW_KEYS = ["graph", "defaults"] as const;
const _TASK_KEYS = [
  "callable",
  "inputs",
  "outputs",
  "retries",
  "retry_delay_sec",
  "timeout_sec",
  "fail_policy",
] as const;
const _RUNTIME_KEYS = ["expose_env"] as const;

/** One entry of `tasks:` in a flow.yaml. Every field is optional. */
export interface WorkflowTaskConfig {
  /** `"<module>:<export>"` of a registered task or a built-in (`pyoco:sleep`, …). */
  callable?: string;
  /** Selector mapping resolved into the task's input (overrides the registered task's). */
  inputs?: Record<string, JsonValue>;
  /** Context paths the result is also saved to (overrides the registered task's). */
  outputs?: string[];
  /** Extra attempts after a failure (integer ≥ 0). */
  retries?: number;
  /** Delay before the first retry, in seconds (≥ 0). */
  retry_delay_sec?: number;
  /** Per-attempt timeout, in seconds (> 0). */
  timeout_sec?: number;
  /** `stop` or `isolate`. */
  fail_policy?: FailPolicy;
}

/** A validated flow.yaml document, with optional sections filled in. */
export interface WorkflowConfig {
  /** Document format version; always `1`. */
  version: 1;
  /** The flow: its graph and its default params. */
  flow: {
    /** Graph DSL text. */
    graph: string;
    /** Default params of a run (`{}` when absent). */
    defaults: Record<string, JsonValue>;
  };
  /** Task name → settings (`{}` when absent). */
  tasks: Record<string, WorkflowTaskConfig>;
  /** Runtime settings. */
  runtime: {
    /** Environment variable names `$env.NAME` may read (`[]` when absent). */
    expose_env: string[];
  };
}

/**
 * Check a loaded flow.yaml against the schema and return it with optional sections filled in.
 *
 * @param root The loaded document (from `loadWorkflowYaml`).
 * @returns The validated config.
 * @throws {WorkflowYamlError} `unknown_key`, `forbidden_key`, `missing_key` or `invalid_value`;
 * `path` names the key.
 */
export function validateWorkflowConfig(root: unknown): WorkflowConfig {
  if (root === null || root === undefined) {
    throw new WorkflowYamlError("missing_key", 'Invalid workflow YAML: missing key "flow"', {
      path: "flow",
    });
  }
  const top = _mapping(root, { path: "", what: "the document" });
  for (const key of Object.keys(top)) {
    if (key === "flows" || key === "discovery") {
      throw new WorkflowYamlError(
        "forbidden_key",
        `Invalid workflow YAML: key "${key}" is not supported, a workflow YAML defines ` +
          `exactly one flow under "flow"`,
        { path: key },
      );
    }
  }
  _checkKeys(top, { allowed: _TOP_KEYS, path: "" });

  if (Object.hasOwn(top, "version") && top.version !== 1) {
    _invalid("version", `must be 1, got ${_show(top.version)}`);
  }

  if (!Object.hasOwn(top, "flow")) _missing("flow");
  const flowMap = _mapping(top.flow, { path: "flow", what: '"flow"' });
  _checkKeys(flowMap, { allowed: _FLOW_KEYS, path: "flow" });
  if (!Object.hasOwn(flowMap, "graph")) _missing("flow.graph");
  const graph = flowMap.graph;
  if (typeof graph !== "string" || graph.trim() === "") {
    _invalid("flow.graph", `must be a non-empty string, got ${_show(graph)}`);
  }
  const graphNames = _graphNames(graph as string);
  let defaults: Record<string, JsonValue> = {};
  if (Object.hasOwn(flowMap, "defaults") && flowMap.defaults !== null) {
    defaults = _jsonMapping(flowMap.defaults, { path: "flow.defaults", selectors: false });
  }

  const tasks = _tasksSection(top, graphNames);
  const exposeEnv = _runtimeSection(top);

  return {
    version: 1,
    flow: { graph: graph as string, defaults },
    tasks,
    runtime: { expose_env: exposeEnv },
  };
}

/** `tasks:`: each entry checked, and named by the graph. */
function _tasksSection(
  top: Record<string, unknown>,
  graphNames: readonly string[],
): Record<string, WorkflowTaskConfig> {
  const tasks: Record<string, WorkflowTaskConfig> = {};
  if (Object.hasOwn(top, "tasks") && top.tasks !== null) {
    const taskMap = _mapping(top.tasks, { path: "tasks", what: '"tasks"' });
    for (const [name, value] of Object.entries(taskMap)) {
      const path = `tasks.${name}`;
      if (!_NAME_RE.test(name)) {
        _invalid(
          path,
          "is not a valid task name (letters, digits and _, not starting with a digit)",
        );
      }
      if (!graphNames.includes(name)) _invalid(path, "is not named in flow.graph");
      Object.defineProperty(tasks, name, {
        value: _taskConfig(value, path),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }

  return tasks;
}

/** `runtime.expose_env`: environment variable names, without duplicates. */
function _runtimeSection(top: Record<string, unknown>): string[] {
  const exposeEnv: string[] = [];
  if (Object.hasOwn(top, "runtime") && top.runtime !== null) {
    const runtime = _mapping(top.runtime, { path: "runtime", what: '"runtime"' });
    _checkKeys(runtime, { allowed: _RUNTIME_KEYS, path: "runtime" });
    if (Object.hasOwn(runtime, "expose_env") && runtime.expose_env !== null) {
      const list = _stringList(runtime.expose_env, "runtime.expose_env");
      list.forEach((name, i) => {
        if (!_ENV_NAME_RE.test(name)) {
          _invalid(
            `runtime.expose_env.${i}`,
            `is not an environment variable name: ${_show(name)}`,
          );
        }
        if (!exposeEnv.includes(name)) exposeEnv.push(name);
      });
    }
  }

  return exposeEnv;
}

function _taskConfig(value: unknown, path: string): WorkflowTaskConfig {
  const map = value === null ? {} : _mapping(value, { path, what: `task "${path.slice(6)}"` });
  _checkKeys(map, { allowed: _TASK_KEYS, path });
  const out: WorkflowTaskConfig = {};
  if (Object.hasOwn(map, "callable")) {
    const callable = map.callable;
    if (typeof callable !== "string" || !_CALLABLE_RE.test(callable)) {
      _invalid(`${path}.callable`, `must be a "<module>:<export>" string, got ${_show(callable)}`);
    }
    out.callable = callable;
  }
  if (Object.hasOwn(map, "inputs") && map.inputs !== null) {
    out.inputs = _jsonMapping(map.inputs, { path: `${path}.inputs`, selectors: true });
  }
  if (Object.hasOwn(map, "outputs") && map.outputs !== null) {
    out.outputs = _stringList(map.outputs, `${path}.outputs`);
    out.outputs.forEach((p, i) => {
      try {
        parseOutputPath(p);
      } catch (err) {
        if (!(err instanceof SelectorSyntaxError)) throw err;
        _invalid(
          `${path}.outputs.${i}`,
          `must be scratch.<path> or artifacts.<path>, got ${_show(p)}`,
        );
      }
    });
  }
  if (Object.hasOwn(map, "retries")) {
    const v = map.retries;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > 1000) {
      _invalid(`${path}.retries`, `must be an integer from 0 to 1000, got ${_show(v)}`);
    }
    out.retries = v;
  }
  if (Object.hasOwn(map, "retry_delay_sec")) {
    const v = map.retry_delay_sec;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 86_400) {
      _invalid(`${path}.retry_delay_sec`, `must be a number from 0 to 86400, got ${_show(v)}`);
    }
    out.retry_delay_sec = v;
  }
  if (Object.hasOwn(map, "timeout_sec")) {
    const v = map.timeout_sec;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > 2_147_483) {
      _invalid(`${path}.timeout_sec`, `must be a number > 0 and <= 2147483, got ${_show(v)}`);
    }
    out.timeout_sec = v;
  }
  if (Object.hasOwn(map, "fail_policy")) {
    const v = map.fail_policy;
    if (v !== "stop" && v !== "isolate") {
      _invalid(`${path}.fail_policy`, `must be "stop" or "isolate", got ${_show(v)}`);
    }
    out.fail_policy = v;
  }
  return out;
}

function _mapping(value: unknown, at: { path: string; what: string }): Record<string, unknown> {
  const { path, what } = at;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const message = `Invalid workflow YAML: ${what} must be a mapping, got ${_show(value)}`;
    throw new WorkflowYamlError("invalid_value", message, { path: path === "" ? null : path });
  }
  return value as Record<string, unknown>;
}

function _checkKeys(
  map: Record<string, unknown>,
  rule: { allowed: readonly string[]; path: string },
): void {
  const { allowed, path } = rule;
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) {
      const at = path === "" ? key : `${path}.${key}`;
      const where = path === "" ? "at the top level" : `in "${path}"`;
      throw new WorkflowYamlError(
        "unknown_key",
        `Invalid workflow YAML: unknown key "${key}" ${where} (at ${at}); ` +
          `allowed: ${allowed.join(", ")}`,
        { path: at },
      );
    }
  }
}

function _stringList(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) _invalid(path, `must be a list of strings, got ${_show(value)}`);
  value.forEach((item, i) => {
    if (typeof item !== "string") {
      _invalid(`${path}.${i}`, `must be a string, got ${_show(item)}`);
    }
  });
  return [...value] as string[];
}

/**
 * A free-form mapping (defaults, inputs): JSON values only, at most `MAX_JSON_DEPTH` levels deep,
 * copied with own properties. With
 * `selectors`, strings that look like selectors (`$flow.x`, `$node.a.output`, …) must parse.
 */
function _jsonMapping(value: unknown, at: _JsonAt): Record<string, JsonValue> {
  const { path } = at;
  _mapping(value, { path, what: `"${path}"` });
  // Bound the depth first: `_json` below recurses once per level.
  const tooDeep = jsonDepthError(value, { path });
  if (tooDeep !== null) {
    throw new WorkflowYamlError("invalid_value", `Invalid workflow YAML: ${tooDeep}`, { path });
  }
  return _json(value, at) as Record<string, JsonValue>;
}

/** Where a free-form value is, and whether its strings may be selectors that must parse. */
interface _JsonAt {
  path: string;
  selectors: boolean;
}

function _json(value: unknown, at: _JsonAt): JsonValue {
  const { path, selectors } = at;
  if (typeof value === "string") {
    if (selectors) {
      try {
        parseSelector(value);
      } catch (err) {
        if (!(err instanceof SelectorSyntaxError)) throw err;
        _invalid(path, `is not a valid selector: ${err.message}`);
      }
    }
    return value;
  }
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) _invalid(path, `must be a finite number, got ${_show(value)}`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => _json(item, { path: `${path}.${i}`, selectors }));
  }
  if (typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a "__proto__" key stays an ordinary own property.
      Object.defineProperty(out, key, {
        value: _json(item, { path: `${path}.${key}`, selectors }),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return _invalid(path, `must be a plain YAML value, got ${_show(value)}`);
}

function _missing(path: string): never {
  throw new WorkflowYamlError("missing_key", `Invalid workflow YAML: missing key "${path}"`, {
    path,
  });
}

function _invalid(path: string, problem: string): never {
  throw new WorkflowYamlError("invalid_value", `Invalid workflow YAML: ${path} ${problem}`, {
    path,
  });
}

function _show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  }
  return String(value);
}

/** Task names in the order the graph first mentions them; bad DSL → `invalid_value`. */
function _graphNames(graph: string): string[] {
  try {
    return parseGraph(graph).nodes.map((node) => node.name);
  } catch (err) {
    if (!(err instanceof FlowDefinitionError)) throw err;
    throw new WorkflowYamlError(
      "invalid_value",
      `Invalid workflow YAML: flow.graph: ${err.message}`,
      {
        path: "flow.graph",
        cause: err,
      },
    );
  }
}
