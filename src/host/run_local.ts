/**
 * The local runner: run one flow in this process, without NATS or a gateway. The flow comes from
 * a flow.yaml (with tasks from modules, like a worker would resolve it) or from a module that
 * exports it. Used by `pyoco run` (`src/cli/run.ts`). Deno.
 *
 * @module
 */

import {
  type Flow,
  type FlowEvent,
  flowFromYaml,
  parseWorkflowYaml,
  runFlow,
  type RunResult,
} from "../flow/mod.ts";
import { exposedEnv } from "./exposed_env.ts";
import { loadRegistry, moduleStem } from "./registry.ts";

/** Options of {@linkcode runLocal} and {@linkcode loadLocalFlow}. */
export interface RunLocalOptions {
  /** A flow.yaml (`.yaml` / `.yml`) or a module that exports flows. */
  target: string;
  /**
   * For a module: the flow to run (may be omitted when the module exports exactly one flow).
   * For a flow.yaml: the name the flow gets. @default {the file's stem for a flow.yaml}
   */
  flow?: string;
  /** Modules whose exported tasks (and flows' tasks) a flow.yaml can use. @default {[]} */
  taskModules?: readonly string[];
  /**
   * Params overlaid on the flow's defaults. Unlike a submitted YAML run (which always uses
   * `flow.defaults`), a local run of a flow.yaml accepts overrides too. @default {{}}
   */
  params?: Record<string, unknown>;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
  /** Receives the run's lifecycle events as they happen. */
  onEvent?: (event: FlowEvent) => void;
  /** Maximum tasks running at once. @default {Infinity} */
  maxConcurrency?: number;
  /**
   * Values for `$env.NAME` / `ctx.env`. @default {the process environment, for the flow's
   * `exposeEnv` names only, read by {@linkcode exposedEnv} (values registered as log secrets;
   * unset or not permitted names are left out)}
   */
  env?: Record<string, string>;
  /** Called for each exposed env name this process may not read (it is left out). */
  onEnvDenied?: (name: string) => void;
  /** Size cap of a flow.yaml in bytes. @default {262144} */
  maxYamlBytes?: number;
  /** Run id given to tasks. @default {a random UUID} */
  runId?: string;
}

/**
 * The flow to run cannot be found: the module exports no flow of that name (or no flow at all),
 * or it exports several and none was chosen.
 */
export class FlowNotFoundError extends Error {
  /** The flow asked for, or `null` when none was chosen. */
  readonly flowName: string | null;
  /** The flows the module does export. */
  readonly available: readonly string[];

  /**
   * Build the error for a flow that cannot be found or chosen.
   *
   * @param flowName The flow asked for, or `null` when none was chosen.
   * @param available The flows the module exports.
   * @param target The module path.
   * @param options `cause`.
   */
  constructor(
    flowName: string | null,
    available: readonly string[],
    target: string,
    options: ErrorOptions = {},
  ) {
    const list = available.length === 0 ? "it exports none" : `it exports ${available.join(", ")}`;
    super(
      flowName === null
        ? `Cannot choose a flow from "${target}": ${list}; pick one with --flow NAME`
        : `Cannot find flow "${flowName}" in "${target}": ${list}`,
      options,
    );
    this.name = "FlowNotFoundError";
    this.flowName = flowName;
    this.available = available;
  }
}

/** A flow.yaml file cannot be read (missing, a directory, no permission). */
export class WorkflowFileError extends Error {
  /** The path as given. */
  readonly path: string;

  /**
   * Build the error for a workflow file that cannot be read.
   *
   * @param path The path as given.
   * @param options `cause`: the read error.
   */
  constructor(path: string, options: ErrorOptions = {}) {
    const why = options.cause instanceof Error ? options.cause.message : "unknown error";
    super(`Cannot read workflow file "${path}": ${why}`, options);
    this.name = "WorkflowFileError";
    this.path = path;
  }
}

/**
 * Whether a path names a flow.yaml (by its extension).
 *
 * @param path A file path.
 * @returns `true` for `.yaml` / `.yml`.
 */
export function isYamlPath(path: string): boolean {
  return /\.ya?ml$/i.test(path);
}

/**
 * Load the flow a local run would run, without running it.
 *
 * @param options Target, flow name, task modules and YAML size cap.
 * @returns The flow.
 * @throws {WorkflowFileError} When the flow.yaml cannot be read.
 * @throws {WorkflowYamlError} When the flow.yaml is invalid.
 * @throws {TaskNotFoundError} When a flow.yaml task does not resolve.
 * @throws {FlowDefinitionError} When the flow is invalid.
 * @throws {ModuleLoadError} When a module cannot be imported.
 * @throws {RegistryConflictError} When modules export different flows of one name.
 * @throws {FlowNotFoundError} When the module does not export the flow.
 */
export async function loadLocalFlow(options: RunLocalOptions): Promise<Flow> {
  const taskModules = options.taskModules ?? [];
  if (isYamlPath(options.target)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(options.target);
    } catch (err) {
      throw new WorkflowFileError(options.target, { cause: err });
    }
    const parsed = await parseWorkflowYaml(bytes, { maxBytes: options.maxYamlBytes });
    const registry = await loadRegistry(taskModules);
    return flowFromYaml(parsed, {
      flowName: options.flow ?? moduleStem(options.target),
      tasks: registry.tasks,
    });
  }
  const registry = await loadRegistry([options.target, ...taskModules]);
  const available = [...registry.flows.keys()];
  if (options.flow === undefined) {
    if (available.length === 1) return registry.flows.get(available[0]!)!;
    throw new FlowNotFoundError(null, available, options.target);
  }
  const found = registry.flows.get(options.flow);
  if (found === undefined) throw new FlowNotFoundError(options.flow, available, options.target);
  return found;
}

/**
 * Run one flow locally, in this process, and resolve with its result. Task failures are in the
 * result (`status: "FAILED"`), not thrown; aborting `options.signal` ends the run `CANCELLED`.
 *
 * @example Run an example flow
 * ```ts ignore
 * import { runLocal } from "./run_local.ts";
 * const result = await runLocal({ target: "./examples/flows.ts", flow: "hello", params: { x: 2 } });
 * console.log(result.status, result.outputs); // COMPLETED { shout: "CARROT" }
 * ```
 *
 * @param options What to run and how.
 * @returns The run's result.
 * @throws {WorkflowFileError | WorkflowYamlError | TaskNotFoundError | FlowDefinitionError |
 * ModuleLoadError | RegistryConflictError | FlowNotFoundError} When the flow cannot be loaded
 * (see {@linkcode loadLocalFlow}).
 */
export async function runLocal(options: RunLocalOptions): Promise<RunResult> {
  const flow = await loadLocalFlow(options);
  return await runFlow(flow, {
    params: options.params ?? {},
    signal: options.signal,
    onEvent: options.onEvent,
    maxConcurrency: options.maxConcurrency,
    runId: options.runId,
    env: options.env ?? exposedEnv(flow, { onDenied: options.onEnvDenied }),
  });
}
