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
 * The work is split in three: `_yaml_load.ts` turns text into plain values (hostile-document
 * defences), `_yaml_schema.ts` checks them against the schema, this file builds the flow.
 *
 * @module
 */

import { sha256Hex } from "../contract/_util.ts";
import { builtinTasks } from "./builtins.ts";
import { parseGraph } from "./dsl.ts";
import { TaskNotFoundError, WorkflowYamlError } from "./errors.ts";
import { flow, task } from "./task.ts";
import type { Flow, Task, TaskOptions } from "./types.ts";
import { loadWorkflowYaml } from "./_yaml_load.ts";
import {
  validateWorkflowConfig,
  type WorkflowConfig,
  type WorkflowTaskConfig,
} from "./_yaml_schema.ts";

export type { WorkflowConfig, WorkflowTaskConfig } from "./_yaml_schema.ts";

/** Default size cap of a flow.yaml document, in bytes (`PYOCO_WORKFLOW_YAML_MAX_BYTES`). */
export const DEFAULT_WORKFLOW_YAML_MAX_BYTES = 262144;

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
  const config = validateWorkflowConfig(loadWorkflowYaml(text));
  return { config, sha256: await sha256Hex(bytes), size_bytes: bytes.byteLength };
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

function _checkSize(size: number, maxBytes: number): void {
  if (size > maxBytes) {
    throw new WorkflowYamlError(
      "too_large",
      `Workflow YAML is too large: more than ${maxBytes} bytes`,
    );
  }
}

function _lookupFn(
  tasks: ReadonlyMap<string, Task> | Readonly<Record<string, Task>>,
): (key: string) => Task | undefined {
  if (tasks instanceof Map) return (key) => tasks.get(key);
  const record = tasks as Readonly<Record<string, Task>>;
  return (key) => (Object.hasOwn(record, key) ? record[key] : undefined);
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
