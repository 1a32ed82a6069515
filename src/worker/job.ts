/**
 * A job: its message parsed and validated (SPEC §4 "Job"), and what became of it
 * ({@linkcode JobResult}). A job that is not JSON or lacks a required field is answered with
 * TERM and an `invalid_job` dead letter; this module only decides.
 *
 * Required: `run_id` (a valid KV key), `flow_name` (non-empty string). Optional but checked when
 * present: `tag` (a tag), `tags` (tags), `params` (an object), `submitted_at` (a number),
 * `workflow_yaml` (a string), `workflow_yaml_sha256`, `workflow_yaml_bytes`, `tenant_id`,
 * `api_key_id`, `pending_revision` (a positive integer: SPEC §10). A missing `tag` defaults to
 * the tag of the subject it came from, missing `tags` to `[tag]`, missing `params` to `{}` (other
 * producers, e.g. pyoco-server 0.4, send all of them).
 *
 * @module
 */

import { type Job, TAG_PATTERN } from "../contract/wire.ts";

/** KV keys (and therefore run ids) are `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.`. */
const _KEY = /^[-/_=.a-zA-Z0-9]{1,512}$/;

/** Whether `runId` can be a key of the runs bucket. */
export function isValidRunId(runId: unknown): runId is string {
  return typeof runId === "string" && _KEY.test(runId) && !runId.startsWith(".") &&
    !runId.endsWith(".");
}

/** A job that passed validation. */
export interface ValidJob {
  /** Valid. */
  ok: true;
  /** The job with defaults filled in. */
  job: Job;
  /** The payload as parsed from JSON (for dead letters: the original, not the normalised). */
  payload: Record<string, unknown>;
}

/** A job that failed validation. */
export interface InvalidJob {
  /** Invalid. */
  ok: false;
  /** What is wrong, e.g. `Invalid job: "flow_name" must be a non-empty string`. */
  error: string;
  /** The run id, when the payload carried a usable one. */
  runId: string | null;
  /** The flow name, when the payload carried one. */
  flowName: string | null;
  /** The payload parsed from JSON, or the raw text when it was not JSON. */
  payload: Record<string, unknown> | string;
  /** The message body as text (UTF-8, invalid bytes replaced). */
  text: string;
  /** Whether the body is not JSON at all (pyoco-server's `invalid_json`). */
  notJson: boolean;
}

/** What happened to one job. */
export type JobOutcome =
  /** Ran; snapshot `COMPLETED`; ACK. */
  | "completed"
  /** Ran; snapshot `FAILED`; ACK (and `execution_error` dead letter when enabled). */
  | "failed"
  /** Cancelled (a `CANCELLING` was seen); snapshot `CANCELLED`; ACK. */
  | "cancelled"
  /** The snapshot was already terminal: ACK without running. */
  | "already_terminal"
  /**
   * A duplicate of a job another live worker is running (e.g. an orphan re-publish that crossed
   * the original): ACK without running — the other worker's own delivery stays its to answer.
   */
  | "held_elsewhere"
  /** Someone else made the snapshot terminal while it ran: not overwritten; ACK. */
  | "superseded"
  /** Not JSON / missing or invalid fields: TERM, `invalid_job` dead letter. */
  | "invalid_job"
  /** Flow or callable not registered: snapshot `FAILED`, ACK, `flow_not_found` dead letter. */
  | "flow_not_found"
  /** Transient NATS/KV error or drain: NAK (redelivered later). */
  | "requeued"
  /** Failing on the last delivery: snapshot `FAILED`, TERM, `execution_error` dead letter. */
  | "max_deliveries";

/** The result of processing one job. */
export interface JobResult {
  /** What happened. */
  outcome: JobOutcome;
  /** What the message got. */
  action: "ack" | "nak" | "term";
  /** The run id, when known. */
  runId: string | null;
  /** The tag whose consumer delivered it. */
  tag: string;
  /** Delivery count of the message. */
  deliveryCount: number;
  /** The error recorded, if any. */
  error: string | null;
}

const _ACTIONS: Record<JobOutcome, JobResult["action"]> = {
  completed: "ack",
  failed: "ack",
  cancelled: "ack",
  already_terminal: "ack",
  held_elsewhere: "ack",
  superseded: "ack",
  flow_not_found: "ack",
  invalid_job: "term",
  max_deliveries: "term",
  requeued: "nak",
};

/**
 * What the message gets for an outcome (SPEC §4.2's dispositions): ACK, TERM or NAK.
 *
 * @param outcome What happened to the job.
 * @returns The answer to its message.
 *
 * @example
 * ```ts
 * import { actionOf } from "./job.ts";
 * import assert from "node:assert/strict";
 * assert.equal(actionOf("invalid_job"), "term");
 * ```
 */
export function actionOf(outcome: JobOutcome): JobResult["action"] {
  return _ACTIONS[outcome];
}

/** The outcome of {@linkcode parseJob}. */
export type ParsedJob = ValidJob | InvalidJob;

const _decoder = new TextDecoder("utf-8", { fatal: false });

/** What is wrong with the job's optional fields, or `null` when they are fine. */
function _optionalFieldError(payload: Record<string, unknown>): string | null {
  const submittedAt = payload.submitted_at ?? null;
  if (submittedAt !== null && (typeof submittedAt !== "number" || !Number.isFinite(submittedAt))) {
    return `"submitted_at" must be a number of unix seconds`;
  }
  for (const key of ["workflow_yaml", "workflow_yaml_sha256", "tenant_id", "api_key_id"]) {
    const v = payload[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      return `"${key}" must be a string or null`;
    }
  }
  for (const key of ["workflow_yaml_bytes", "replayed_from"]) {
    const v = payload[key];
    if (v !== undefined && v !== null && (typeof v !== "number" || !Number.isFinite(v))) {
      return `"${key}" must be a number or null`;
    }
  }
  const pendingRevision = payload.pending_revision;
  if (
    pendingRevision !== undefined && pendingRevision !== null &&
    (!Number.isSafeInteger(pendingRevision) || (pendingRevision as number) < 1)
  ) {
    return `"pending_revision" must be a positive integer or null`;
  }
  return null;
}

/**
 * Parse and validate a job message body.
 *
 * @param data The message body.
 * @param subjectTag The tag of the subject the message arrived on (the default `tag`).
 * @returns The valid job, or why it is invalid (with the run id when known).
 *
 * @example A valid job
 * ```ts
 * import { parseJob } from "./job.ts";
 * import assert from "node:assert/strict";
 * const body = new TextEncoder().encode(JSON.stringify({ run_id: "r1", flow_name: "hello" }));
 * const parsed = parseJob(body, "default");
 * assert.ok(parsed.ok);
 * assert.deepEqual(parsed.job.tags, ["default"]);
 * ```
 */
export function parseJob(data: Uint8Array, subjectTag: string): ParsedJob {
  const text = _decoder.decode(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      error: `Invalid job: the message is not JSON (${(err as Error).message})`,
      runId: null,
      flowName: null,
      payload: text,
      text,
      notJson: true,
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return {
      ok: false,
      error: "Invalid job: the message is not a JSON object",
      runId: null,
      flowName: null,
      payload: text,
      text,
      notJson: false,
    };
  }
  const payload = value as Record<string, unknown>;
  const runId = isValidRunId(payload.run_id) ? payload.run_id : null;
  const flowName = typeof payload.flow_name === "string" && payload.flow_name !== ""
    ? payload.flow_name
    : null;
  const fail = (error: string): InvalidJob => ({
    ok: false,
    error: `Invalid job: ${error}`,
    runId,
    flowName,
    payload,
    text,
    notJson: false,
  });

  if (payload.run_id === undefined) return fail(`"run_id" is missing`);
  if (runId === null) {
    return fail(`"run_id" must be a string of letters, digits and -/_=. (at most 512)`);
  }
  if (payload.flow_name === undefined) return fail(`"flow_name" is missing`);
  if (flowName === null) return fail(`"flow_name" must be a non-empty string`);

  const tag = payload.tag ?? subjectTag;
  if (typeof tag !== "string" || !TAG_PATTERN.test(tag)) {
    return fail(`"tag" must match ${TAG_PATTERN.source}`);
  }
  const tags = payload.tags ?? [tag];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string" && TAG_PATTERN.test(t))) {
    return fail(`"tags" must be an array of tags matching ${TAG_PATTERN.source}`);
  }
  const params = payload.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    return fail(`"params" must be an object`);
  }
  const submittedAt = payload.submitted_at ?? null;
  const optional = _optionalFieldError(payload);
  if (optional !== null) return fail(optional);

  const job: Job = {
    ...(payload as Partial<Job>),
    run_id: runId,
    flow_name: flowName,
    tag,
    tags: tags as string[],
    params: params as Record<string, unknown>,
    submitted_at: (submittedAt as number | null) ?? Date.now() / 1000,
  };
  return { ok: true, job, payload };
}

/**
 * The error of a run given up on its last delivery (SPEC §4.2).
 *
 * @param delivery The delivery count.
 * @param options The consumer's MaxDeliver and what kept failing.
 * @returns `Max deliveries exceeded (N of M): <cause>`.
 */
export function maxDeliveriesError(
  delivery: number,
  options: { max: number; cause: string },
): string {
  return `Max deliveries exceeded (${delivery} of ${options.max}): ${options.cause}`;
}
