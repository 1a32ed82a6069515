/**
 * Retry a finished run (SPEC §15, `POST /runs/{id}/retry`): a NEW run of the same flow, params,
 * tag and tags, whose snapshot and job carry `retry_of: <id>`. With `from: "failed"` the job also
 * carries `resume: {<task>: output}` — the outputs the original recorded for its SUCCEEDED tasks —
 * and the worker hands them to the engine (`runFlow(flow, { resume })`): those tasks end
 * `SUCCEEDED` with `reused: true` in their record, only the failed, cancelled and never-started
 * ones run.
 *
 * Decisions (also in `docs/spec.md`):
 * - Only a terminal run (COMPLETED, FAILED, CANCELLED) may be retried: 409 ERR-PYOCO-0027
 *   otherwise. Retrying a COMPLETED run from failed reuses every task (a cheap re-run of the
 *   graph); a plain retry runs everything again.
 * - A task is reused only when the original's record says `SUCCEEDED` and holds its `output`
 *   (a record dropped by snapshot compaction, or an output replaced by its
 *   `<truncated: N bytes>` placeholder, runs again). Artifacts are not carried over.
 * - A flow.yaml run cannot be retried: its YAML text is never stored (SPEC §4), so the gateway
 *   cannot rebuild the job — 422 ERR-PYOCO-0002 saying so (submit the YAML again).
 * - The new run belongs to the original's tenant; its api key id is the caller's (who asked
 *   for the retry), or the original's without auth. The catalog check of SPEC §12 applies.
 *
 * @module
 */

import type { JsonValue, RunSnapshot, SubmitResponse } from "../contract/wire.ts";
import { isTerminal } from "../contract/wire.ts";
import { isPriority } from "../contract/tenancy.ts";
import { ErrId } from "../contract/errors.ts";
import { ConflictError, InvalidRequestError } from "./errors.ts";
import type { Principal } from "./principal.ts";
import { readRunSnapshot, type ReadScope } from "./reads.ts";
import type { RunIndex } from "./run_index.ts";
import { type SubmitContext, submitRun, validateRunRequest } from "./submit.ts";

/** What {@linkcode retryRun} answers: the new run. */
export interface RetryResponse extends SubmitResponse {
  /** The run that was retried (its full id, also when a prefix was given). */
  retry_of: string;
  /** Tasks whose recorded outputs the new run reuses (empty for a plain retry). */
  reused_tasks: string[];
}

/** Options of {@linkcode retryRun}. */
export interface RetryOptions extends ReadScope {
  /** The run to retry (an id or a unique prefix of one). */
  runId: string;
  /** `"failed"`: reuse the outputs of the tasks that SUCCEEDED (retry from failed). */
  from?: "failed" | null;
}

const _PLACEHOLDER = /^<truncated: \d+ bytes>$/;

/**
 * The outputs a retry from failed reuses: every task the original recorded as `SUCCEEDED` with
 * its output present (and not replaced by a compaction placeholder).
 *
 * @param snapshot The original run's snapshot (with `task_records`).
 * @returns Task name → recorded output.
 *
 * @example Usage
 * ```ts
 * import { reusableOutputs } from "./retry.ts";
 * import assert from "node:assert/strict";
 * const record = (state: "SUCCEEDED" | "FAILED", output: unknown) => ({
 *   state, started_at: 1, ended_at: 2, duration_ms: 1000, attempts: 1, error: null,
 *   traceback: null, inputs: null, output: output as null, artifacts: {},
 * });
 * const reused = reusableOutputs({
 *   run_id: "r", flow_name: "f", status: "FAILED", params: {}, heartbeat_at: 1, updated_at: 1,
 *   tasks: { a: "SUCCEEDED", b: "FAILED" },
 *   task_records: { a: record("SUCCEEDED", 42), b: record("FAILED", null) },
 * });
 * assert.deepEqual(reused, { a: 42 });
 * ```
 */
export function reusableOutputs(snapshot: RunSnapshot): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const records = snapshot.task_records ?? {};
  const truncated = snapshot.task_records_truncated === true;
  for (const [name, state] of Object.entries(snapshot.tasks ?? {})) {
    const record = records[name];
    if (state !== "SUCCEEDED" || record?.state !== "SUCCEEDED" || !("output" in record)) continue;
    const output = record.output;
    if (truncated && typeof output === "string" && _PLACEHOLDER.test(output)) continue;
    out[name] = output;
  }
  return out;
}

function _principalOf(original: RunSnapshot, caller: Principal | null): Principal | null {
  if (caller !== null) return caller;
  if (typeof original.tenant_id !== "string") return null;
  return { tenantId: original.tenant_id, keyId: original.api_key_id ?? "" };
}

/**
 * Retry a finished run as a new run (`retry_of`), optionally from its failed tasks.
 *
 * @param ctx Submit context (its backend also reads the original; `principal` is the caller).
 * @param options The run (id or prefix), `from`, and the caller's tenant.
 * @returns The new run, with `retry_of` and the reused task names.
 * @throws {NotFoundError} When the run does not exist for this caller (404).
 * @throws {AmbiguousRunIdError} When the prefix matches several runs (409 ERR-PYOCO-0029).
 * @throws {ConflictError} ERR-PYOCO-0027 when the run is not finished (409).
 * @throws {InvalidRequestError} When it is a flow.yaml run, or its stored request would not pass
 *   a submit any more (422).
 * @throws {FlowNotOfferedError} When the catalog knows the tag and no worker offers the flow.
 * @throws {NatsUnavailableError} When NATS does not answer (503; nothing is left behind).
 */
export async function retryRun(
  ctx: SubmitContext & {
    backend: SubmitContext["backend"] & { index?: Pick<RunIndex, "idsWithPrefix" | "get"> };
  },
  options: RetryOptions,
): Promise<RetryResponse> {
  const backend = { ...ctx.backend, config: ctx.config };
  const { snapshot } = await readRunSnapshot(backend, options.runId, options);
  const id = snapshot.run_id;
  if (!isTerminal(snapshot.status)) {
    throw new ConflictError(
      `Run ${JSON.stringify(id)} is ${snapshot.status}: only a finished run (COMPLETED, ` +
        "FAILED, CANCELLED) can be retried; wait for it or cancel it first",
      ErrId.runNotTerminal,
    );
  }
  if (typeof snapshot.workflow_yaml_sha256 === "string") {
    throw new InvalidRequestError(
      [{ path: "run_id", message: "is a flow.yaml run, whose YAML is not stored" }],
      `Run ${JSON.stringify(id)} is a flow.yaml run: its YAML text is never stored, so it ` +
        "cannot be retried; submit the flow.yaml again with POST /runs/yaml",
    );
  }
  const request = validateRunRequest({
    flow_name: snapshot.flow_name,
    params: snapshot.params ?? {},
    ...(typeof snapshot.tag === "string" ? { tag: snapshot.tag } : {}),
    ...(Array.isArray(snapshot.tags) && snapshot.tags.length > 0 ? { tags: snapshot.tags } : {}),
    ...(isPriority(snapshot.priority) ? { priority: snapshot.priority } : {}),
  }, ctx.config);
  const resume = options.from === "failed" ? reusableOutputs(snapshot) : {};
  const answer = await submitRun(
    { ...ctx, principal: _principalOf(snapshot, ctx.principal) },
    request,
    undefined,
    { retryOf: id, resume: Object.keys(resume).length > 0 ? resume : null },
  );
  return { ...answer, retry_of: id, reused_tasks: Object.keys(resume) };
}
