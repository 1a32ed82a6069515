/**
 * Which flow a job runs on this worker, and with which environment (SPEC §4.2): a registered
 * flow by name, or a flow built from the job's `workflow_yaml` with the registered tasks; the
 * flow's `expose_env` names this process may read, their values registered as secrets.
 *
 * @module
 */

import type { Job } from "../contract/wire.ts";
import { TaskNotFoundError } from "../flow/errors.ts";
import type { Flow, Task } from "../flow/types.ts";
import { flowFromYaml, parseWorkflowYaml } from "../flow/yaml.ts";

/** The flows and tasks a worker can run (see `loadRegistry()`). */
export interface WorkerRegistry {
  /** Flow name → flow. */
  flows: ReadonlyMap<string, Flow>;
  /** `"module:export"` and bare task names → task (for flow.yaml jobs). */
  tasks: ReadonlyMap<string, Task>;
}

/** The flow, or a task of a flow.yaml job, is not registered on this worker (ERR-PYOCO-0006). */
export class FlowNotFoundError extends Error {
  /**
   * Create the error.
   *
   * @param message What is missing, and on which worker.
   * @param options Keeps `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FlowNotFoundError";
  }
}

/** The job's `workflow_yaml` is invalid: the job is answered as an invalid job. */
export class InvalidWorkflowError extends Error {
  /**
   * Create the error.
   *
   * @param message What is wrong, starting with `Invalid job: workflow_yaml …`.
   * @param options Keeps `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidWorkflowError";
  }
}

/** Options of {@linkcode resolveFlow}. */
export interface ResolveFlowOptions {
  /** The flows and tasks of this worker. */
  registry: WorkerRegistry;
  /** This worker's id (named in a "not registered" message). */
  workerId: string;
  /** The `workflow_yaml` size limit, in bytes (`PYOCO_WORKFLOW_YAML_MAX_BYTES`). */
  workflowYamlMaxBytes: number;
}

/**
 * The flow a job runs: built from its `workflow_yaml` with the registered tasks, or the
 * registered flow named `flow_name`.
 *
 * @param job The (valid) job.
 * @param options The registry, worker id and YAML size limit.
 * @returns The flow.
 * @throws {FlowNotFoundError} When the flow, or a callable of the YAML, is not registered.
 * @throws {InvalidWorkflowError} When the YAML is invalid or does not match its sha256.
 */
export async function resolveFlow(job: Job, options: ResolveFlowOptions): Promise<Flow> {
  if (typeof job.workflow_yaml === "string") return await _flowOfYaml(job, options);
  const flow = options.registry.flows.get(job.flow_name);
  if (!flow) {
    throw new FlowNotFoundError(
      `Cannot run flow "${job.flow_name}": it is not registered on worker ${options.workerId}`,
    );
  }
  return flow;
}

async function _flowOfYaml(job: Job, options: ResolveFlowOptions): Promise<Flow> {
  let parsed;
  try {
    parsed = await parseWorkflowYaml(job.workflow_yaml!, {
      maxBytes: options.workflowYamlMaxBytes,
    });
  } catch (err) {
    throw new InvalidWorkflowError(`Invalid job: workflow_yaml is invalid: ${_message(err)}`, {
      cause: err,
    });
  }
  if (job.workflow_yaml_sha256 && job.workflow_yaml_sha256 !== parsed.sha256) {
    throw new InvalidWorkflowError(
      `Invalid job: workflow_yaml does not match workflow_yaml_sha256 (${job.workflow_yaml_sha256})`,
    );
  }
  try {
    return flowFromYaml(parsed, { flowName: job.flow_name, tasks: options.registry.tasks });
  } catch (err) {
    if (err instanceof TaskNotFoundError) {
      throw new FlowNotFoundError(
        `Cannot run flow "${job.flow_name}": task "${err.callable}" is not registered on worker ${options.workerId}`,
        { cause: err },
      );
    }
    throw new InvalidWorkflowError(`Invalid job: workflow_yaml is invalid: ${_message(err)}`, {
      cause: err,
    });
  }
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
