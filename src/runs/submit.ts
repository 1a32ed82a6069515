/**
 * Run submission: strict validation of `POST /runs` and `POST /runs/yaml`, then the atomic
 * submit of SPEC §4.1 — KV **create** of the `PENDING` snapshot, JetStream publish of the job
 * (`Nats-Msg-Id: <run_id>`, PubAck awaited with a deadline), and on a failed publish the
 * snapshot is deleted again (best effort, ERR-PYOCO-0004 logged when that fails too) and the
 * caller gets a NatsUnavailableError (503 at the gateway): no orphan runs.
 *
 * Validation decisions (also in `docs/`):
 * - Unknown top-level fields are rejected (422 naming the field): typos must not pass silently.
 * - `flow_name`: 1–256 characters of letters, digits, `_`, `.`, `-`, not starting with `.`/`-`.
 * - `params`: a JSON object nested at most `MAX_JSON_DEPTH` (64) levels deep, whose encoding is
 *   at most half of `PYOCO_MAX_RUN_SNAPSHOT_BYTES`, so the snapshot can always hold them next to
 *   the task records. The depth is checked first, without recursion, so nothing downstream
 *   (encoding, hashing, the worker's selectors) ever walks a deeper value.
 * - `tag`/`tags`: every tag matches `TAG_PATTERN` (never `.`, `*`, `>`); `tags` is a non-empty
 *   array of at most 32 unique tags that includes `tag` when both are given. Only `tags` given →
 *   `tag = PYOCO_DEFAULT_TAG` and `tags` kept as given (metadata; pyoco-server 0.4 routes so, §16);
 *   only `tag` given → `tags = [tag]`; neither → `PYOCO_DEFAULT_TAG`.
 *
 * @module
 */

import type { Config } from "../config.ts";
import { workSubject } from "../config.ts";
import { yamlCallables } from "../contract/catalog.ts";
import { ErrId } from "../contract/errors.ts";
import { jsonDepthError } from "../contract/limits.ts";
import type { Job, RunSnapshot, SubmitResponse } from "../contract/wire.ts";
import { nowSec, TAG_PATTERN } from "../contract/wire.ts";
import { WorkflowYamlError } from "../flow/errors.ts";
import { type ParsedWorkflowYaml, parseWorkflowYaml } from "../flow/yaml.ts";
import type { Logger } from "../log.ts";
import { encodeJson } from "../nats/kv.ts";
import { withNatsRetry } from "../nats/retry.ts";
import type { Principal } from "./principal.ts";
import type { RunsBackend } from "./backend.ts";
import type { FlowCatalog } from "./catalog.ts";
import type { RunIndex } from "./run_index.ts";
import {
  type FieldError,
  InvalidRequestError,
  NatsUnavailableError,
  TooLargeError,
} from "./errors.ts";

/** Flow names: letters, digits, `_`, `.`, `-`; 1–256 characters; no leading `.` or `-`. */
export const FLOW_NAME_PATTERN: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$/;

/** At most this many tags on one run. */
export const MAX_TAGS = 32;

/** A validated submit request. */
export interface RunRequest {
  /** Flow to run. */
  flow_name: string;
  /** Run params (`{}` when none were given). */
  params: Record<string, unknown>;
  /** Tag whose queue gets the job. */
  tag: string;
  /** Every tag of the run (includes `tag`). */
  tags: string[];
}

/** The flow.yaml part of a `POST /runs/yaml` submit. */
export interface YamlSubmission {
  /** The YAML text (travels in the job only). */
  text: string;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
  /**
   * The registered tasks it needs (`yamlCallables()`), for the catalog check of SPEC §12; not
   * checked when absent.
   */
  callables?: string[];
}

const _RUN_FIELDS = new Set(["flow_name", "params", "tag", "tags"]);
const _YAML_FIELDS = new Set(["workflow", "flow_name", "tag"]);

function _isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" || typeof v === "undefined" ? `an ${typeof v}` : `a ${typeof v}`;
}

function _checkFlowName(value: unknown, errors: FieldError[]): string {
  if (value === undefined) {
    errors.push({ path: "flow_name", message: "is required" });
  } else if (typeof value !== "string") {
    errors.push({ path: "flow_name", message: `must be a string, got ${_describe(value)}` });
  } else if (!FLOW_NAME_PATTERN.test(value)) {
    errors.push({
      path: "flow_name",
      message: value === ""
        ? "must not be empty"
        : "must be 1 to 256 letters, digits, _, . or - (not starting with . or -)",
    });
  } else {
    return value;
  }
  return "";
}

function _checkTag(value: unknown, path: string, errors: FieldError[]): string | null {
  if (typeof value !== "string") {
    errors.push({ path, message: `must be a string, got ${_describe(value)}` });
    return null;
  }
  if (!TAG_PATTERN.test(value)) {
    errors.push({
      path,
      message: `${JSON.stringify(value)} is not a valid tag: use 1 to 64 letters, digits, _ or - ` +
        "(never ., * or >)",
    });
    return null;
  }
  return value;
}

function _checkParams(
  value: unknown,
  config: Config,
  errors: FieldError[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (!_isPlainObject(value)) {
    errors.push({ path: "params", message: `must be an object, got ${_describe(value)}` });
    return {};
  }
  const tooDeep = jsonDepthError(value, { path: "params" });
  if (tooDeep !== null) {
    errors.push({ path: "params", message: tooDeep });
    return {};
  }
  const limit = Math.floor(config.maxRunSnapshotBytes / 2);
  const size = encodeJson(value).byteLength;
  if (size > limit) {
    errors.push({
      path: "params",
      message: `is ${size} bytes as JSON; at most ${limit} bytes are allowed ` +
        "(half of PYOCO_MAX_RUN_SNAPSHOT_BYTES)",
    });
  }
  return value;
}

function _resolveTags(
  tagValue: unknown,
  tagsValue: unknown,
  config: Config,
  errors: FieldError[],
): { tag: string; tags: string[] } {
  const tag = tagValue === undefined ? undefined : _checkTag(tagValue, "tag", errors);
  if (tagsValue === undefined) {
    const t = tag ?? config.defaultTag;
    return { tag: t, tags: [t] };
  }
  if (!Array.isArray(tagsValue)) {
    errors.push({ path: "tags", message: `must be an array of tags, got ${_describe(tagsValue)}` });
    return { tag: tag ?? config.defaultTag, tags: [] };
  }
  if (tagsValue.length === 0) errors.push({ path: "tags", message: "must not be empty" });
  if (tagsValue.length > MAX_TAGS) {
    errors.push({ path: "tags", message: `must hold at most ${MAX_TAGS} tags` });
  }
  const tags: string[] = [];
  tagsValue.forEach((v, i) => {
    const t = _checkTag(v, `tags[${i}]`, errors);
    if (t === null) return;
    if (tags.includes(t)) {
      errors.push({ path: `tags[${i}]`, message: `duplicate tag ${JSON.stringify(t)}` });
    } else {
      tags.push(t);
    }
  });
  // pyoco-server 0.4 (SPEC §16): the queue is `tag`, else PYOCO_DEFAULT_TAG; `tags` is metadata.
  const chosen = tag ?? config.defaultTag;
  if (tag !== undefined && tag !== null && tags.length > 0 && !tags.includes(tag)) {
    errors.push({ path: "tags", message: `must include the tag ${JSON.stringify(tag)}` });
  }
  return { tag: chosen, tags };
}

/**
 * Validate a `POST /runs` JSON body.
 *
 * @param body The parsed JSON.
 * @param config The configuration (default tag, snapshot cap).
 * @returns The validated request.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 listing every problem.
 */
export function validateRunRequest(body: unknown, config: Config): RunRequest {
  if (!_isPlainObject(body)) {
    throw new InvalidRequestError([{
      path: "body",
      message: `must be a JSON object, got ${_describe(body)}`,
    }]);
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) {
    if (!_RUN_FIELDS.has(key)) {
      errors.push({
        path: key,
        message: "unknown field (allowed: flow_name, params, tag, tags)",
      });
    }
  }
  const flowName = _checkFlowName(body.flow_name, errors);
  const params = _checkParams(body.params, config, errors);
  const { tag, tags } = _resolveTags(body.tag, body.tags, config, errors);
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return { flow_name: flowName, params, tag, tags };
}

function _yamlTooLarge(size: number, config: Config): TooLargeError {
  return new TooLargeError(
    `Workflow YAML too large: ${size} bytes; the limit is ${config.workflowYamlMaxBytes} bytes ` +
      "(PYOCO_WORKFLOW_YAML_MAX_BYTES)",
    ErrId.workflowYamlTooLarge,
  );
}

/**
 * Validate a `POST /runs/yaml` form (`workflow` file, `flow_name`, `tag?`) and parse the
 * flow.yaml. Params of a YAML run are its `flow.defaults`.
 *
 * @param form The multipart form.
 * @param config The configuration (YAML cap, default tag).
 * @returns The validated request and the YAML to put in the job.
 * @throws {TooLargeError} ERR-PYOCO-0016 when the YAML is larger than
 *   `PYOCO_WORKFLOW_YAML_MAX_BYTES`; {@linkcode InvalidRequestError} for a missing/unknown field or an
 *   invalid flow.yaml (`errors[].path` is `workflow.<key path>`).
 */
export async function validateYamlRequest(
  form: FormData,
  config: Config,
): Promise<{ request: RunRequest; yaml: YamlSubmission }> {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const [key] of form.entries()) {
    if (!_YAML_FIELDS.has(key)) {
      if (!seen.has(key)) {
        errors.push({ path: key, message: "unknown field (allowed: workflow, flow_name, tag)" });
      }
    } else if (seen.has(key)) {
      errors.push({ path: key, message: "given more than once" });
    }
    seen.add(key);
  }
  const workflow = form.get("workflow");
  let bytes: Uint8Array | null = null;
  if (workflow === null) {
    errors.push({ path: "workflow", message: "is required (the flow.yaml file)" });
  } else if (typeof workflow === "string") {
    bytes = new TextEncoder().encode(workflow);
  } else {
    if (workflow.size > config.workflowYamlMaxBytes) throw _yamlTooLarge(workflow.size, config);
    bytes = new Uint8Array(await workflow.arrayBuffer());
  }
  if (bytes !== null && bytes.byteLength > config.workflowYamlMaxBytes) {
    throw _yamlTooLarge(bytes.byteLength, config);
  }
  const flowNameValue = form.get("flow_name");
  const flowName = _checkFlowName(
    flowNameValue === null ? undefined : typeof flowNameValue === "string" ? flowNameValue : {},
    errors,
  );
  const tagValue = form.get("tag");
  let tag = config.defaultTag;
  if (tagValue !== null) {
    tag = _checkTag(typeof tagValue === "string" ? tagValue : {}, "tag", errors) ?? tag;
  }
  if (errors.length > 0 || bytes === null) throw new InvalidRequestError(errors);
  let parsed: ParsedWorkflowYaml;
  try {
    parsed = await parseWorkflowYaml(bytes, { maxBytes: config.workflowYamlMaxBytes });
  } catch (err) {
    if (err instanceof WorkflowYamlError) {
      const e = err;
      if (e.reason === "too_large") throw _yamlTooLarge(bytes.byteLength, config);
      throw new InvalidRequestError(
        [{ path: e.path ? `workflow.${e.path}` : "workflow", message: e.message }],
        `Invalid workflow YAML: ${e.message}`,
      );
    }
    throw err;
  }
  const params = _checkParams(parsed.config.flow.defaults ?? {}, config, errors);
  if (errors.length > 0) {
    throw new InvalidRequestError(errors.map((e) => ({ ...e, path: "workflow.flow.defaults" })));
  }
  return {
    request: { flow_name: flowName, params, tag, tags: [tag] },
    yaml: {
      text: new TextDecoder().decode(bytes),
      sha256: parsed.sha256,
      bytes: parsed.size_bytes,
      callables: yamlCallables(parsed.config),
    },
  };
}

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
}

/**
 * Build the `PENDING` snapshot and the job of a submit (nothing is written).
 *
 * @param principal The caller (`null` without auth).
 * @param request The validated request.
 * @param yaml The flow.yaml of a YAML submit.
 * @param options Run id and `replayed_from`.
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
  if (options.idempotencyClaim != null) snapshot.idempotency_claim = options.idempotencyClaim;
  if (options.replayedFrom != null) {
    snapshot.replayed_from = options.replayedFrom;
    job.replayed_from = options.replayedFrom;
  }
  if (options.schedule != null) {
    snapshot.schedule_id = job.schedule_id = options.schedule.schedule_id;
    snapshot.scheduled_for = job.scheduled_for = options.schedule.scheduled_for;
  }
  return { snapshot, job };
}

/**
 * Publish a job to its tag's work subject with `Nats-Msg-Id: <run_id>` (JetStream drops a
 * second publish of the same run within the duplicate window) and await the PubAck.
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
  const ack = await backend.js.publish(workSubject(config, job.tag), encodeJson(job), {
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
  logger.info("Run submitted", {
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
  const fields = { run_id: runId, flow_name: snapshot.flow_name, tag: snapshot.tag };
  const retry = {
    windowSec: config.natsRetrySec,
    onRetry: (err: unknown, attempt: number) =>
      logger.warn("NATS did not take the submit; retrying", { ...fields, attempt }, err),
  };
  const encoded = encodeJson(snapshot);
  let revision: number;
  try {
    revision = await withNatsRetry(_pendingCreator(backend, runId, encoded), retry);
  } catch (err) {
    // The outcome is unknown (e.g. a timeout): make sure no snapshot stays without a job.
    await _deleteOrphan(backend, runId, undefined, logger, fields);
    throw new NatsUnavailableError("Cannot write the run snapshot", { cause: err });
  }
  job.pending_revision = revision;
  try {
    // Safe to repeat: the stream drops a second copy with the same Nats-Msg-Id.
    await withNatsRetry(() => publishJob(backend, config, job), retry);
  } catch (err) {
    await _deleteOrphan(backend, runId, revision, logger, fields);
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
 * KV create of the `PENDING` snapshot, safe to repeat: a try whose answer was lost may have
 * landed, so a repeat first looks for its own bytes under the (fresh, unique) run id.
 */
function _pendingCreator(
  backend: SubmitBackend,
  runId: string,
  encoded: Uint8Array,
): () => Promise<number> {
  let tried = false;
  return async () => {
    if (tried) {
      const entry = await backend.runs.get(runId);
      if (entry?.operation === "PUT" && _sameBytes(entry.value, encoded)) return entry.revision;
    }
    tried = true;
    return await backend.runs.create(runId, encoded);
  };
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function _deleteOrphan(
  backend: SubmitBackend,
  runId: string,
  revision: number | undefined,
  logger: Logger,
  fields: Record<string, unknown>,
): Promise<void> {
  try {
    await backend.runs.delete(
      runId,
      revision === undefined ? undefined : { previousSeq: revision },
    );
    backend.index?.remove(runId);
  } catch (err) {
    logger.error("Cannot delete the snapshot of a run that was not queued", {
      ...fields,
      err_id: ErrId.orphanCleanupFailed,
    }, err);
  }
}
