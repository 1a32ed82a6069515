/**
 * Run submission: the atomic submit of SPEC §4.1 — KV **create** of the `PENDING` snapshot,
 * JetStream publish of the job (`Nats-Msg-Id: <run_id>`, PubAck awaited with a deadline), and on
 * a failed publish the snapshot is deleted again (best effort, ERR-PYOCO-0004 logged when that
 * fails too) and the caller gets a NatsUnavailableError (503 at the gateway): no orphan runs.
 * What a submit may contain is checked before, in `submit_request.ts` (re-exported here).
 *
 * @module
 */

import type { Config } from "../config.ts";
import { workSubject } from "../config.ts";
import { snapshotKey } from "./run_keys.ts";
import { tenantOf } from "../contract/tenancy.ts";
import { ErrId } from "../contract/errors.ts";
import type { Job, JsonValue, RunSnapshot, SubmitResponse } from "../contract/wire.ts";
import { nowSec } from "../contract/wire.ts";
import type { Logger } from "../log.ts";
import { encodeJson } from "../nats/kv.ts";
import { withNatsRetry } from "../nats/retry.ts";
import type { Principal } from "./principal.ts";
import type { RunsBackend } from "./backend.ts";
import type { FlowCatalog } from "./catalog.ts";
import type { RunIndex } from "./run_index.ts";
import { NatsUnavailableError } from "./errors.ts";
import type { RunRequest, YamlSubmission } from "./submit_request.ts";

export {
  FLOW_NAME_PATTERN,
  MAX_TAGS,
  validateRunRequest,
  validateYamlRequest,
} from "./submit_request.ts";
export type { RunRequest, YamlSubmission } from "./submit_request.ts";

/**
 * The part of the NATS side a submit needs ({@linkcode RunsBackend} has it; the admin CLI
 * builds one from a plain connection to replay dead letters).
 */
export interface SubmitBackend {
  /** JetStream client. */
  js: RunsBackend["js"];
  /** Runs bucket. */
  runs: RunsBackend["runs"];
  /** Deadline of one NATS operation, in milliseconds. */
  timeoutMs: number;
  /** Whether the connection is up now. */
  state: { readonly connected: boolean };
  /** The run index to keep read-your-writes (the gateway's). */
  index?: Pick<RunIndex, "upsert" | "remove">;
  /** The flow catalog a submit is checked against (SPEC §12); no check without it. */
  catalog?: Pick<FlowCatalog, "checkSubmit">;
}

/** What {@linkcode submitRun} needs. */
export interface SubmitContext {
  /** The NATS side. */
  backend: SubmitBackend;
  /** The configuration. */
  config: Config;
  /** Where the submit is logged. */
  logger: Logger;
  /** The caller (`null` without auth). */
  principal: Principal | null;
}

/** Options of {@linkcode submitRun} and {@linkcode buildRun}. */
export interface SubmitOptions {
  /** Use this run id (e.g. the one an Idempotency-Key claimed). @default {crypto.randomUUID()} */
  runId?: string;
  /** DLQ sequence the run is a replay of (snapshot and job field `replayed_from`). */
  replayedFrom?: number | null;
  /** KV key of the Idempotency-Key claim the run is submitted under (snapshot field). */
  idempotencyClaim?: string | null;
  /** The schedule slot this run is for (snapshot and job fields `schedule_id`, `scheduled_for`). */
  schedule?: { schedule_id: string; scheduled_for: number } | null;
  /** The run this one retries (snapshot and job field `retry_of`, SPEC §15). */
  retryOf?: string | null;
  /** Task outputs the worker reuses instead of running the tasks (job field `resume`). */
  resume?: Record<string, JsonValue> | null;
}

/**
 * Build the `PENDING` snapshot and the job of a submit (nothing is written).
 *
 * @param principal The caller (`null` without auth).
 * @param request The validated request.
 * @param yaml The flow.yaml of a YAML submit.
 * @param options Run id, `replayed_from`, schedule slot, `retry_of` and `resume`.
 * @returns The snapshot and the job, with the same run id and times.
 */
export function buildRun(
  principal: Principal | null,
  request: RunRequest,
  yaml?: YamlSubmission,
  options: SubmitOptions = {},
): { snapshot: RunSnapshot; job: Job } {
  const runId = options.runId ?? crypto.randomUUID();
  const now = nowSec();
  const snapshot: RunSnapshot = {
    run_id: runId,
    flow_name: request.flow_name,
    status: "PENDING",
    params: request.params,
    tasks: {},
    task_records: {},
    task_records_truncated: false,
    heartbeat_at: now,
    updated_at: now,
    tag: request.tag,
    tags: request.tags,
    worker_id: null,
    start_time: null,
    end_time: null,
    error: null,
    tenant_id: principal?.tenantId ?? null,
    api_key_id: principal?.keyId || null,
    workflow_yaml_sha256: yaml?.sha256 ?? null,
    workflow_yaml_bytes: yaml?.bytes ?? null,
    submitted_at: now,
    outputs: null,
    attempt: 0,
    cancel_requested_at: null,
  };
  const job: Job = {
    run_id: runId,
    flow_name: request.flow_name,
    tag: request.tag,
    tags: request.tags,
    params: request.params,
    submitted_at: now,
    tenant_id: snapshot.tenant_id,
    api_key_id: snapshot.api_key_id,
    workflow_yaml: yaml?.text ?? null,
    workflow_yaml_sha256: snapshot.workflow_yaml_sha256,
    workflow_yaml_bytes: snapshot.workflow_yaml_bytes,
  };
  if (options.idempotencyClaim != null) {
    // In the job too: the worker's first write rebuilds the snapshot from the job (SPEC §10).
    snapshot.idempotency_claim = options.idempotencyClaim;
    job.idempotency_claim = options.idempotencyClaim;
  }
  if (options.replayedFrom != null) {
    snapshot.replayed_from = options.replayedFrom;
    job.replayed_from = options.replayedFrom;
  }
  if (options.schedule != null) {
    snapshot.schedule_id = job.schedule_id = options.schedule.schedule_id;
    snapshot.scheduled_for = job.scheduled_for = options.schedule.scheduled_for;
  }
  if (options.retryOf != null) snapshot.retry_of = job.retry_of = options.retryOf;
  if (options.resume != null) job.resume = options.resume;
  if (request.priority !== undefined && request.priority !== "normal") {
    snapshot.priority = job.priority = request.priority;
  }
  return { snapshot, job };
}

/**
 * The work subject of a job: its tag's (shared mode), or its tenant's tag's (namespaced mode,
 * tenant `_` without a key), with its priority's suffix (SPEC §13).
 *
 * @param config The configuration.
 * @param job The job.
 * @returns The subject to publish it to.
 */
export function jobSubject(config: Config, job: Job): string {
  return workSubject(config, {
    tag: job.tag,
    tenant: tenantOf(job.tenant_id),
    priority: job.priority ?? null,
  });
}

/**
 * Publish a job to its tag's work subject ({@linkcode jobSubject}) with `Nats-Msg-Id: <run_id>`
 * (JetStream drops a second publish of the same run within the duplicate window) and await the
 * PubAck.
 *
 * @param backend The NATS side.
 * @param config The configuration (work subject prefix).
 * @param job The job.
 * @returns Whether the stream reported it as a duplicate.
 * @throws {Error} The nats.js error when the stream did not acknowledge it in time.
 */
export async function publishJob(
  backend: SubmitBackend,
  config: Config,
  job: Job,
): Promise<boolean> {
  const ack = await backend.js.publish(jobSubject(config, job), encodeJson(job), {
    msgID: job.run_id,
    timeout: backend.timeoutMs,
  });
  return ack.duplicate;
}

/**
 * The catalog check of SPEC §12 (nothing without a catalog, or with
 * `PYOCO_SUBMIT_FLOW_CHECK=off`): a run by name is checked by its flow, a flow.yaml run by its
 * callables (its `flow_name` is only a label).
 *
 * @param backend The NATS side (its `catalog`).
 * @param request The validated request.
 * @param yaml The flow.yaml of a YAML submit.
 * @throws {FlowNotOfferedError} ERR-PYOCO-0006 when the catalog knows the tag and no worker of it
 *   offers the flow (or a callable).
 */
export function checkOffered(
  backend: Pick<SubmitBackend, "catalog">,
  request: RunRequest,
  yaml?: YamlSubmission,
): void {
  const catalog = backend.catalog;
  if (!catalog) return;
  if (yaml === undefined) catalog.checkSubmit({ flowName: request.flow_name, tag: request.tag });
  else if (yaml.callables) {
    catalog.checkSubmit({
      flowName: request.flow_name,
      tag: request.tag,
      callables: yaml.callables,
    });
  }
}

/**
 * Submit a run atomically: KV create of the `PENDING` snapshot, then the job publish; when the
 * publish fails the snapshot is deleted again and the caller gets 503.
 *
 * @param ctx Backend, config, logger and caller.
 * @param request The validated request.
 * @param yaml The flow.yaml of a `POST /runs/yaml` submit.
 * @param options Run id and `replayed_from`.
 * @returns `{run_id, status: "PENDING"}`.
 * @throws {NatsUnavailableError} ERR-PYOCO-0003 when the snapshot cannot be written or the job cannot
 *   be queued.
 * @throws {FlowNotOfferedError} ERR-PYOCO-0006 when the catalog knows the tag and no worker of it
 *   offers the flow (or a callable of the flow.yaml); nothing is written.
 */
export async function submitRun(
  ctx: SubmitContext,
  request: RunRequest,
  yaml?: YamlSubmission,
  options: SubmitOptions = {},
): Promise<SubmitResponse> {
  const { backend, logger, principal } = ctx;
  if (!backend.state.connected) throw new NatsUnavailableError("Cannot submit the run");
  checkOffered(backend, request, yaml);
  const run = buildRun(principal, request, yaml, options);
  await writeRun(ctx, run);
  logger.debug("Run submitted", {
    run_id: run.snapshot.run_id,
    flow_name: request.flow_name,
    tag: request.tag,
    tenant_id: run.snapshot.tenant_id,
    yaml: yaml !== undefined,
    ...(options.replayedFrom != null ? { replayed_from: options.replayedFrom } : {}),
  });
  return { run_id: run.snapshot.run_id, status: "PENDING" };
}

/**
 * Write a built run: KV create of its `PENDING` snapshot, then the publish of its job (with
 * `pending_revision` set), each retried through a short outage for `PYOCO_NATS_RETRY_SEC`; when
 * either finally fails the snapshot is withdrawn, so no run is left without a job. Many calls may
 * be in flight at once (a batch): nothing here waits for another run.
 *
 * @param ctx Backend, config and logger.
 * @param run The snapshot and job from {@linkcode buildRun} (`job.pending_revision` is set here).
 * @returns The snapshot's KV revision.
 * @throws {NatsUnavailableError} ERR-PYOCO-0003 when the snapshot cannot be written or the job
 *   cannot be queued.
 */
export async function writeRun(
  ctx: Omit<SubmitContext, "principal">,
  run: { snapshot: RunSnapshot; job: Job },
): Promise<number> {
  const { backend, config, logger } = ctx;
  const { snapshot, job } = run;
  const runId = snapshot.run_id;
  const key = snapshotKey(config, snapshot);
  const fields = { run_id: runId, flow_name: snapshot.flow_name, tag: snapshot.tag };
  const retry = {
    windowSec: config.natsRetrySec,
    onRetry: (err: unknown, attempt: number) =>
      logger.warn("NATS did not take the submit; retrying", { ...fields, attempt }, err),
  };
  const encoded = encodeJson(snapshot);
  let revision: number;
  try {
    revision = await withNatsRetry(_pendingCreator(backend, key, encoded), retry);
  } catch (err) {
    // The outcome is unknown (e.g. a timeout): make sure no snapshot of ours stays without a
    // job — only ours: a key that holds other bytes (another gateway's run under the same
    // derived id, e.g. a schedule slot) is left alone.
    const mine = await backend.runs.get(key).catch(() => null);
    if (mine?.operation === "PUT" && _sameBytes(mine.value, encoded)) {
      await _deleteOrphan(backend, { runId, key, revision: mine.revision, logger, fields });
    }
    throw new NatsUnavailableError("Cannot write the run snapshot", { cause: err });
  }
  job.pending_revision = revision;
  try {
    // Safe to repeat: the stream drops a second copy with the same Nats-Msg-Id.
    await withNatsRetry(() => publishJob(backend, config, job), retry);
  } catch (err) {
    // The publish's answer may be lost while the job landed: if a worker already moved the
    // snapshot on from PENDING, the run is queued and running — answer as a success.
    if (await _movedOn(backend, { key, revision })) {
      logger.warn("The publish answered with an error but a worker has the run", fields, err);
      backend.index?.upsert(snapshot, revision);
      return revision;
    }
    await _deleteOrphan(backend, { runId, key, revision, logger, fields });
    logger.error("Cannot queue the run; its snapshot was withdrawn", {
      ...fields,
      err_id: ErrId.natsUnavailable,
    }, err);
    throw new NatsUnavailableError("Cannot queue the run", { cause: err });
  }
  backend.index?.upsert(snapshot, revision);
  return revision;
}

/**
 * KV create of the `PENDING` snapshot at its key (`runKey()`), safe to repeat: a try whose answer
 * was lost may have landed, so a repeat first looks for its own bytes under the (fresh, unique)
 * key.
 */
function _pendingCreator(
  backend: SubmitBackend,
  key: string,
  encoded: Uint8Array,
): () => Promise<number> {
  let tried = false;
  return async () => {
    if (tried) {
      const entry = await backend.runs.get(key);
      if (entry?.operation === "PUT" && _sameBytes(entry.value, encoded)) return entry.revision;
    }
    tried = true;
    return await backend.runs.create(key, encoded);
  };
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether the run's snapshot changed since our create (a worker took the job). */
async function _movedOn(
  backend: SubmitBackend,
  at: { key: string; revision: number },
): Promise<boolean> {
  const entry = await backend.runs.get(at.key).catch(() => null);
  return entry !== null && entry.operation === "PUT" && entry.revision !== at.revision;
}

async function _deleteOrphan(
  backend: SubmitBackend,
  at: {
    runId: string;
    key: string;
    revision: number;
    logger: Logger;
    fields: Record<string, unknown>;
  },
): Promise<void> {
  const { runId, key, revision, logger, fields } = at;
  try {
    await backend.runs.delete(key, { previousSeq: revision });
    backend.index?.remove(runId);
  } catch (err) {
    logger.error("Cannot delete the snapshot of a run that was not queued", {
      ...fields,
      err_id: ErrId.orphanCleanupFailed,
    }, err);
  }
}
