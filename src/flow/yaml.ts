/**
 * flow.yaml: parse and validate a single-flow workflow document, and build a {@linkcode Flow}
 * from it with the tasks a worker registered. Web APIs only (the `yaml` npm package,
 * `TextDecoder`, WebCrypto).
 *
 * The document shape (SPEC §2.4):
 *
 * ```yaml
 * version: 1                      # optional; must be 1 when given
 * flow:
 *   graph: fetch >> (left & right) >> merge
 *   defaults: { x: 1 }            # the run's params
 * tasks:                          # optional; graph names without an entry resolve by name
 *   fetch: { callable: "demo:fetch", inputs: { x: $flow.x }, outputs: [scratch.fetched] }
 *   left:  { callable: "pyoco:sleep", inputs: { seconds: 0.1 }, retries: 1, timeout_sec: 5 }
 * runtime:
 *   expose_env: [API_TOKEN]
 * ```
 *
 * @module
 */

import { parseDocument } from "yaml";
import { builtinTasks } from "./builtins.ts";
import { parseGraph } from "./dsl.ts";
import { FlowDefinitionError, TaskNotFoundError, WorkflowYamlError } from "./errors.ts";
import { parseOutputPath, parseSelector, SelectorSyntaxError } from "./selectors.ts";
import { flow, task } from "./task.ts";
import type { FailPolicy, Flow, JsonValue, Task, TaskOptions } from "./types.ts";

/** Default size cap of a flow.yaml document, in bytes (`PYOCO_WORKFLOW_YAML_MAX_BYTES`). */
export const DEFAULT_WORKFLOW_YAML_MAX_BYTES = 262144;

/**
 * How many alias (`*name`) expansions a document may cause. Small on purpose: a flow.yaml has
 * no need for more, and it stops "billion laughs" documents before they expand.
 */
const _MAX_ALIAS_COUNT = 100;

/**
 * Deepest nesting of flow collections (`[` / `{`) accepted. The YAML parser's cost grows
 * steeply with depth, so a quick scan rejects deeper documents before parsing.
 */
const _MAX_FLOW_DEPTH = 64;

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

/** The result of {@linkcode parseWorkflowYaml}. */
export interface ParsedWorkflowYaml {
  /** The validated document. */
  config: WorkflowConfig;
  /** Lower-case hex SHA-256 of the exact document bytes. */
  sha256: string;
  /** Size of the document in bytes (UTF-8). */
  size_bytes: number;
}

/** Options of {@linkcode parseWorkflowYaml}. */
export interface ParseWorkflowYamlOptions {
  /** Largest accepted document, in bytes. @default {262144} */
  maxBytes?: number;
}

/**
 * Parse and validate a flow.yaml document.
 *
 * It is async only because the SHA-256 comes from WebCrypto (`crypto.subtle.digest`); all
 * validation happens before the first `await`-able step finishes, with no I/O.
 *
 * Checks, in order: size (`too_large`), UTF-8 (`not_utf8`), YAML syntax (`syntax`), duplicate
 * keys (`duplicate_key`), alias expansion (`alias_limit`, billion-laughs safe), then the
 * document's shape: unknown keys (`unknown_key`), `flows`/`discovery` (`forbidden_key`), missing
 * keys (`missing_key`) and bad values (`invalid_value`). Keys named `__proto__` or `constructor`
 * inside free-form mappings (`defaults`, `inputs`) become plain own properties.
 *
 * @example Parse a small flow
 * ```ts
 * import { parseWorkflowYaml } from "./yaml.ts";
 * import assert from "node:assert/strict";
 * const { config, size_bytes } = await parseWorkflowYaml("flow:\n  graph: a >> b\n");
 * assert.equal(config.flow.graph, "a >> b");
 * assert.equal(size_bytes, 22);
 * ```
 *
 * @param textOrBytes The document, as text or as its UTF-8 bytes (hashed exactly as given).
 * @param options Size cap.
 * @returns The validated config, its SHA-256 and its size in bytes.
 * @throws {WorkflowYamlError} When the document is rejected; `reason` says why, `path` where.
 * @throws {RangeError} When `options.maxBytes` is not a positive integer.
 * @throws {Error} Under Deno without env access to `LOG_TOKENS` and `LOG_STREAM`, which the
 * `yaml` package reads while parsing (`--allow-env=…,LOG_TOKENS,LOG_STREAM` fixes it).
 */
export async function parseWorkflowYaml(
  textOrBytes: string | Uint8Array,
  options: ParseWorkflowYamlOptions = {},
): Promise<ParsedWorkflowYaml> {
  const maxBytes = options.maxBytes ?? DEFAULT_WORKFLOW_YAML_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`Invalid option maxBytes ${maxBytes}: it must be a positive integer`);
  }
  let bytes: Uint8Array;
  let text: string;
  if (typeof textOrBytes === "string") {
    // Every UTF-16 code unit needs at least one UTF-8 byte: reject huge strings before encoding.
    _checkSize(textOrBytes.length, maxBytes);
    bytes = new TextEncoder().encode(textOrBytes);
    _checkSize(bytes.byteLength, maxBytes);
    text = textOrBytes;
  } else if (textOrBytes instanceof Uint8Array) {
    bytes = textOrBytes;
    _checkSize(bytes.byteLength, maxBytes);
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (err) {
      throw new WorkflowYamlError(
        "not_utf8",
        "Cannot read workflow YAML: it is not valid UTF-8",
        { cause: err },
      );
    }
  } else {
    throw new TypeError("Invalid workflow YAML: expected a string or a Uint8Array");
  }
  const config = _validate(_load(text));
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return { config, sha256: _hex(new Uint8Array(digest)), size_bytes: bytes.byteLength };
}

/** Options of {@linkcode flowFromYaml}. */
export interface FlowFromYamlOptions {
  /** Name of the resulting flow (a YAML document does not name its flow). */
  flowName: string;
  /**
   * Registered tasks: `"module:export"` and bare task names → task. The built-in module `pyoco`
   * (`pyoco:sleep`, `pyoco:echo`, `pyoco:fail`) is always available.
   */
  tasks: ReadonlyMap<string, Task> | Readonly<Record<string, Task>>;
}

/**
 * Build a {@linkcode Flow} from a parsed flow.yaml.
 *
 * Every task named by the graph or listed under `tasks:` is resolved: its `callable` against the
 * built-ins (`pyoco:*`) and then `options.tasks`; without `callable`, by its own name in
 * `options.tasks`. The registered function is re-wrapped under the YAML task name; the registered
 * task's options apply, overridden by the YAML's `inputs`, `outputs`, `retries`,
 * `retry_delay_sec`, `timeout_sec` and `fail_policy`. The flow's defaults are `flow.defaults`
 * and its `exposeEnv` is `runtime.expose_env`.
 *
 * @example Build a flow from built-ins
 * ```ts
 * import { flowFromYaml, parseWorkflowYaml } from "./yaml.ts";
 * import assert from "node:assert/strict";
 * const parsed = await parseWorkflowYaml(`
 * flow: { graph: say }
 * tasks:
 *   say: { callable: "pyoco:echo", inputs: { value: hi } }
 * `);
 * const f = flowFromYaml(parsed, { flowName: "greet", tasks: new Map() });
 * assert.deepEqual([...f.tasks.keys()], ["say"]);
 * ```
 *
 * @param parsed The result of {@linkcode parseWorkflowYaml} (only `config` is read).
 * @param options The flow name and the registered tasks.
 * @returns The validated flow.
 * @throws {TaskNotFoundError} When a `callable` (or a task name without one) is not registered.
 * @throws {FlowDefinitionError} When the graph is invalid (from {@linkcode flow}).
 */
export function flowFromYaml(
  parsed: Pick<ParsedWorkflowYaml, "config">,
  options: FlowFromYamlOptions,
): Flow {
  const { config } = parsed;
  const lookup = _lookupFn(options.tasks);
  // Every configured task is named by the graph (parseWorkflowYaml checks it).
  const names = parseGraph(config.flow.graph).nodes.map((node) => node.name);
  const tasks: Task[] = [];
  for (const name of names) {
    const cfg: WorkflowTaskConfig = Object.hasOwn(config.tasks, name) ? config.tasks[name]! : {};
    let registered: Task | undefined;
    if (cfg.callable !== undefined) {
      registered = builtinTasks.get(cfg.callable) ?? lookup(cfg.callable);
      if (registered === undefined) {
        throw new TaskNotFoundError(cfg.callable, {
          message: `Cannot resolve callable "${cfg.callable}" of task "${name}": ` +
            `no task is registered under that name`,
        });
      }
    } else {
      registered = lookup(name);
      if (registered === undefined) {
        throw new TaskNotFoundError(name, {
          message: `Cannot resolve task "${name}": it has no callable and no task named ` +
            `"${name}" is registered`,
        });
      }
    }
    tasks.push(task(name, registered.fn, _mergeOptions(registered, cfg)));
  }
  return flow(options.flowName, {
    graph: config.flow.graph,
    tasks,
    defaults: config.flow.defaults,
    exposeEnv: config.runtime.expose_env,
  });
}

// ---------------------------------------------------------------------------------------------
// Loading

function _checkSize(size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw new WorkflowYamlError(
      "too_large",
      `Workflow YAML is too large: more than ${maxBytes} bytes`,
    );
  }
}

function _load(text: string): unknown {
  _checkFlowDepth(text);
  let doc;
  try {
    doc = parseDocument(text, {
      version: "1.2",
      schema: "core",
      uniqueKeys: true,
      strict: true,
      prettyErrors: true,
      logLevel: "error",
      merge: false,
    });
  } catch (err) {
    if (err instanceof Error && (err.name === "NotCapable" || err.name === "PermissionDenied")) {
      // Not the document's fault: under Deno, the yaml package's Node build reads the env
      // variables LOG_TOKENS and LOG_STREAM (debug switches) while parsing.
      throw new Error(
        "Cannot parse workflow YAML: the yaml package needs read access to the environment " +
          "variables LOG_TOKENS and LOG_STREAM; add them to --allow-env",
        { cause: err },
      );
    }
    // Pathological input (e.g. nesting deep enough to exhaust the stack).
    throw new WorkflowYamlError("syntax", `Cannot parse workflow YAML: ${_message(err)}`, {
      cause: err,
    });
  }
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = first.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : "";
    if (first.code === "DUPLICATE_KEY") {
      const key = _keyAt(text, first.pos[0]);
      throw new WorkflowYamlError(
        "duplicate_key",
        `Cannot parse workflow YAML: duplicate key ${JSON.stringify(key)}${where}`,
        { cause: first },
      );
    }
    throw new WorkflowYamlError(
      "syntax",
      `Cannot parse workflow YAML: ${_oneLine(first.message)}`,
      {
        cause: first,
      },
    );
  }
  try {
    return doc.toJS({ maxAliasCount: _MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      const excessive = /excessive/i.test(err.message);
      throw new WorkflowYamlError(
        excessive ? "alias_limit" : "syntax",
        excessive
          ? `Cannot parse workflow YAML: aliases expand too much (limit ${_MAX_ALIAS_COUNT}), ` +
            `which indicates a resource exhaustion attack`
          : `Cannot parse workflow YAML: ${err.message}`,
        { cause: err },
      );
    }
    throw new WorkflowYamlError("syntax", `Cannot parse workflow YAML: ${_message(err)}`, {
      cause: err,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

function _validate(root: unknown): WorkflowConfig {
  if (root === null || root === undefined) {
    throw new WorkflowYamlError("missing_key", 'Invalid workflow YAML: missing key "flow"', {
      path: "flow",
    });
  }
  const top = _mapping(root, "", "the document");
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
  _checkKeys(top, _TOP_KEYS, "");

  if (Object.hasOwn(top, "version") && top.version !== 1) {
    _invalid("version", `must be 1, got ${_show(top.version)}`);
  }

  if (!Object.hasOwn(top, "flow")) _missing("flow");
  const flowMap = _mapping(top.flow, "flow", '"flow"');
  _checkKeys(flowMap, _FLOW_KEYS, "flow");
  if (!Object.hasOwn(flowMap, "graph")) _missing("flow.graph");
  const graph = flowMap.graph;
  if (typeof graph !== "string" || graph.trim() === "") {
    _invalid("flow.graph", `must be a non-empty string, got ${_show(graph)}`);
  }
  const graphNames = _graphNames(graph as string);
  let defaults: Record<string, JsonValue> = {};
  if (Object.hasOwn(flowMap, "defaults") && flowMap.defaults !== null) {
    defaults = _jsonMapping(flowMap.defaults, "flow.defaults");
  }

  const tasks: Record<string, WorkflowTaskConfig> = {};
  if (Object.hasOwn(top, "tasks") && top.tasks !== null) {
    const taskMap = _mapping(top.tasks, "tasks", '"tasks"');
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

  const exposeEnv: string[] = [];
  if (Object.hasOwn(top, "runtime") && top.runtime !== null) {
    const runtime = _mapping(top.runtime, "runtime", '"runtime"');
    _checkKeys(runtime, _RUNTIME_KEYS, "runtime");
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

  return {
    version: 1,
    flow: { graph: graph as string, defaults },
    tasks,
    runtime: { expose_env: exposeEnv },
  };
}

function _taskConfig(value: unknown, path: string): WorkflowTaskConfig {
  const map = value === null ? {} : _mapping(value, path, `task "${path.slice(6)}"`);
  _checkKeys(map, _TASK_KEYS, path);
  const out: WorkflowTaskConfig = {};
  if (Object.hasOwn(map, "callable")) {
    const callable = map.callable;
    if (typeof callable !== "string" || !_CALLABLE_RE.test(callable)) {
      _invalid(`${path}.callable`, `must be a "<module>:<export>" string, got ${_show(callable)}`);
    }
    out.callable = callable;
  }
  if (Object.hasOwn(map, "inputs") && map.inputs !== null) {
    out.inputs = _jsonMapping(map.inputs, `${path}.inputs`, true);
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

function _mapping(value: unknown, path: string, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const message = `Invalid workflow YAML: ${what} must be a mapping, got ${_show(value)}`;
    throw new WorkflowYamlError("invalid_value", message, { path: path === "" ? null : path });
  }
  return value as Record<string, unknown>;
}

function _checkKeys(map: Record<string, unknown>, allowed: readonly string[], path: string): void {
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
 * A free-form mapping (defaults, inputs): JSON values only, copied with own properties. With
 * `selectors`, strings that look like selectors (`$flow.x`, `$node.a.output`, …) must parse.
 */
function _jsonMapping(value: unknown, path: string, selectors = false): Record<string, JsonValue> {
  _mapping(value, path, `"${path}"`);
  return _json(value, path, selectors) as Record<string, JsonValue>;
}

function _json(value: unknown, path: string, selectors: boolean): JsonValue {
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
  if (Array.isArray(value)) return value.map((item, i) => _json(item, `${path}.${i}`, selectors));
  if (typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a "__proto__" key stays an ordinary own property.
      Object.defineProperty(out, key, {
        value: _json(item, `${path}.${key}`, selectors),
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

// ---------------------------------------------------------------------------------------------
// Flow building

function _lookupFn(
  tasks: ReadonlyMap<string, Task> | Readonly<Record<string, Task>>,
): (key: string) => Task | undefined {
  if (tasks instanceof Map) return (key) => tasks.get(key);
  const record = tasks as Readonly<Record<string, Task>>;
  return (key) => (Object.hasOwn(record, key) ? record[key] : undefined);
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

function _mergeOptions(registered: Task, cfg: WorkflowTaskConfig): TaskOptions {
  const base = registered.options;
  const options: TaskOptions = {
    outputs: cfg.outputs ?? [...base.outputs],
    retries: cfg.retries ?? base.retries,
    retryDelaySec: cfg.retry_delay_sec ?? base.retryDelaySec,
    retryBackoff: base.retryBackoff,
    failPolicy: cfg.fail_policy ?? base.failPolicy,
  };
  const inputs = cfg.inputs ?? base.inputs;
  if (inputs !== undefined) options.inputs = inputs;
  const timeoutSec = cfg.timeout_sec ?? base.timeoutSec;
  if (timeoutSec !== undefined) options.timeoutSec = timeoutSec;
  return options;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function _hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function _oneLine(message: string): string {
  // prettyErrors adds a source excerpt on following lines; keep the first line.
  return (message.split("\n")[0] ?? message).trim().replace(/[:.]$/, "");
}

/** The key text that starts at `offset` (up to the `:`), for duplicate-key messages. */
function _keyAt(text: string, offset: number): string {
  const rest = text.slice(offset, offset + 200);
  const key = rest.split(/:(?:\s|$)/)[0] ?? rest;
  return key.replace(/^["']|["']$/g, "").trim();
}

/**
 * Reject flow-collection nesting deeper than {@linkcode _MAX_FLOW_DEPTH} with a linear scan that
 * skips comments and quoted scalars. (Brackets inside plain or block scalars count too; only a
 * document with dozens of unbalanced ones could be rejected by mistake.)
 */
function _checkFlowDepth(text: string): void {
  let depth = 0;
  let line = 1;
  let prev = "\n";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
    } else if (c === "#" && /\s/.test(prev)) {
      const end = text.indexOf("\n", i);
      if (end === -1) return;
      i = end - 1;
      continue;
    } else if ((c === '"' || c === "'") && /[\s[{,:\-?]/.test(prev)) {
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text[j]!;
        if (d === "\n") line++;
        if (c === '"' && d === "\\") j++;
        else if (d === c) {
          if (c === "'" && text[j + 1] === "'") j++;
          else break;
        }
      }
      i = j;
      prev = c;
      continue;
    } else if (c === "[" || c === "{") {
      if (++depth > _MAX_FLOW_DEPTH) {
        throw new WorkflowYamlError(
          "syntax",
          `Cannot parse workflow YAML: collections nested deeper than ${_MAX_FLOW_DEPTH} ` +
            `levels at line ${line}`,
        );
      }
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    }
    prev = c;
  }
}
