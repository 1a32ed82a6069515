/**
 * Dead letters (SPEC §4 "DLQ message"): what the worker publishes to `pyoco.dlq.<tag>` when a job
 * is invalid, its flow is unknown, or its execution failed — with the original job payload so it
 * can be replayed.
 *
 * @module
 */

import type { JetStreamClient } from "@nats-io/jetstream";
import { type Config, dlqSubject, parseWorkSubject } from "../config.ts";
import { tenantOf } from "../contract/tenancy.ts";
import { ErrId } from "../contract/errors.ts";
import type { DlqMessage, DlqReason, Job } from "../contract/wire.ts";
import { nowSec } from "../contract/wire.ts";
import type { Logger } from "../log.ts";
import type { InvalidJob } from "./job.ts";
import type { KV } from "@nats-io/kv";
import { jobRunKey, writeFailedSnapshot } from "./snapshot.ts";

/** Fields of {@linkcode buildDlqMessage}. */
export interface DlqFields {
  /** Why the job is dead-lettered. */
  reason: DlqReason;
  /** Human message. */
  error: string;
  /** The run id, when known. */
  runId: string | null;
  /** The flow name, when known. */
  flowName: string | null;
  /** The job's tag (or the tag of the subject it came from). */
  tag: string;
  /** The job's tags. */
  tags: string[];
  /** The worker that gave up. */
  workerId: string;
  /** Delivery count of the message. */
  numDelivered: number;
  /** The subject the job arrived on. */
  subject: string;
  /** The original payload: parsed when it was JSON, else the raw text. */
  job: Job | Record<string, unknown> | string | null;
  /** The job's tenant, when known (top-level `tenant_id`, SPEC §16). @default {null} */
  tenantId?: string | null;
  /** The job's API key id, when known (top-level `api_key_id`, SPEC §16). @default {null} */
  apiKeyId?: string | null;
  /**
   * The raw message text (`invalid_job` entries, SPEC §16); cut to its first
   * {@linkcode DLQ_PAYLOAD_MAX_CHARS} characters. Absent from other entries.
   */
  payload?: string;
}

/** Characters of the raw message an `invalid_job` dead letter keeps in `payload`. */
export const DLQ_PAYLOAD_MAX_CHARS = 4096;

/**
 * Build a dead letter with exactly the fields of SPEC §4, plus SPEC §16's top-level
 * `tenant_id` and `api_key_id` (null when unknown) and, for `invalid_job`, the raw `payload`.
 *
 * @param fields What happened and to which job.
 * @returns The message.
 *
 * @example
 * ```ts
 * import { buildDlqMessage } from "./dead_letter.ts";
 * import assert from "node:assert/strict";
 * const m = buildDlqMessage({
 *   reason: "invalid_job", error: "Invalid job", runId: null, flowName: null, tag: "default",
 *   tags: ["default"], workerId: "w1", numDelivered: 1, subject: "pyoco.work.default", job: "x",
 * });
 * assert.equal(m.reason, "invalid_job");
 * assert.equal(m.job, "x");
 * ```
 */
export function buildDlqMessage(fields: DlqFields): DlqMessage {
  return {
    timestamp: nowSec(),
    reason: fields.reason,
    error: fields.error,
    run_id: fields.runId,
    flow_name: fields.flowName,
    tag: fields.tag,
    tags: fields.tags,
    worker_id: fields.workerId,
    num_delivered: fields.numDelivered,
    subject: fields.subject,
    job: fields.job as DlqMessage["job"],
    tenant_id: fields.tenantId ?? null,
    api_key_id: fields.apiKeyId ?? null,
    ...(fields.payload !== undefined
      ? { payload: fields.payload.slice(0, DLQ_PAYLOAD_MAX_CHARS) }
      : {}),
  };
}

/** Options of {@linkcode jobDlqFields}. */
export interface JobDlqOptions {
  /** Why the job is dead-lettered. */
  reason: DlqReason;
  /** Human message. */
  error: string;
  /** The job as it arrived (parsed), kept as `job` for a replay. */
  payload: Record<string, unknown>;
  /** The worker dead-lettering it. */
  workerId: string;
  /** Delivery count of the message. */
  numDelivered: number;
  /** The subject it arrived on. */
  subject: string;
}

/**
 * The dead letter of a valid job: its run id, flow, tag and tags, its tenant and API key id at
 * the top level (SPEC §16), and the payload as it arrived.
 *
 * @param job The (valid) job.
 * @param options Reason, error, payload, worker, delivery count and subject.
 * @returns The fields of the dead letter.
 *
 * @example
 * ```ts
 * import { buildDlqMessage, jobDlqFields } from "./dead_letter.ts";
 * import assert from "node:assert/strict";
 * const job = {
 *   run_id: "r1", flow_name: "f", tag: "default", tags: ["default"], params: {},
 *   submitted_at: 1, tenant_id: "acme",
 * };
 * const m = buildDlqMessage(jobDlqFields(job, {
 *   reason: "flow_not_found", error: "flow_not_found: …", payload: job, workerId: "w1",
 *   numDelivered: 1, subject: "pyoco.work.default",
 * }));
 * assert.equal(m.tenant_id, "acme");
 * assert.equal(m.api_key_id, null);
 * ```
 */
export function jobDlqFields(job: Job, options: JobDlqOptions): DlqFields {
  return {
    reason: options.reason,
    error: options.error,
    runId: job.run_id,
    flowName: job.flow_name,
    tag: job.tag,
    tags: job.tags,
    workerId: options.workerId,
    numDelivered: options.numDelivered,
    subject: options.subject,
    job: options.payload,
    tenantId: job.tenant_id ?? null,
    apiKeyId: job.api_key_id ?? null,
  };
}

/** Where an invalid job was met (see {@linkcode invalidJobFields}). */
export interface InvalidJobContext {
  /** The tag of the consumer that delivered it. */
  tag: string;
  /** The worker rejecting it. */
  workerId: string;
  /** Delivery count of the message. */
  numDelivered: number;
  /** The subject it arrived on. */
  subject: string;
}

/**
 * The dead letter of an invalid job in pyoco-server 0.4's shape (SPEC §16): `error` is
 * `invalid_json` when the body is not JSON (else what is wrong), `payload` the raw text, and
 * `tenant_id`, `api_key_id`, `tags` taken from the payload when it carries usable ones.
 *
 * @param invalid Why the job is invalid, and its payload.
 * @param at The tag, worker, delivery count and subject.
 * @returns The fields of the dead letter.
 *
 * @example
 * ```ts
 * import { buildDlqMessage, invalidJobFields } from "./dead_letter.ts";
 * import assert from "node:assert/strict";
 * const m = buildDlqMessage(invalidJobFields({
 *   ok: false, error: "Invalid job: the message is not JSON", runId: null, flowName: null,
 *   payload: "x", text: "x", notJson: true,
 * }, { tag: "default", workerId: "w1", numDelivered: 1, subject: "pyoco.work.default" }));
 * assert.equal(m.error, "invalid_json");
 * assert.equal(m.payload, "x");
 * assert.equal(m.tenant_id, null);
 * ```
 */
export function invalidJobFields(invalid: InvalidJob, at: InvalidJobContext): DlqFields {
  const payload = typeof invalid.payload === "object" ? invalid.payload : null;
  const tags = Array.isArray(payload?.tags) && payload.tags.every((t) => typeof t === "string")
    ? payload.tags as string[]
    : [at.tag];
  const text = (key: string) => typeof payload?.[key] === "string" ? payload[key] as string : null;
  return {
    reason: "invalid_job",
    error: invalid.notJson ? "invalid_json" : invalid.error,
    runId: invalid.runId,
    flowName: invalid.flowName,
    tag: at.tag,
    tags,
    workerId: at.workerId,
    numDelivered: at.numDelivered,
    subject: at.subject,
    job: invalid.payload,
    tenantId: text("tenant_id"),
    apiKeyId: text("api_key_id"),
    payload: invalid.text,
  };
}

/**
 * Options of {@linkcode publishDlq}.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export interface PublishDlqOptions {
  /** A JetStream client. */
  js: JetStreamClient;
  /** The configuration (subject prefix). */
  config: Config;
  /** Where the outcome is reported. */
  logger: Logger;
}

/**
 * Publish a dead letter to `<dlq prefix>.<tag>` (namespaced: `pyoco.<tenant>.dlq.<tag>`) with JetStream. Never throws: a failure is
 * logged with ERR-PYOCO-0011.
 *
 * @param fields What happened and to which job.
 * @param options The JetStream client, the configuration and the logger.
 * @returns Whether the stream stored it.
 */
export async function publishDlq(
  fields: DlqFields,
  options: PublishDlqOptions,
): Promise<boolean> {
  const { js, config, logger } = options;
  const message = buildDlqMessage(fields);
  try {
    // Namespaced mode: the tenant of the subject the job came from (known even for a job that
    // is not JSON), else the job's own.
    const tenant = parseWorkSubject(config, fields.subject)?.tenant ?? tenantOf(fields.tenantId);
    await js.publish(dlqSubject(config, { tag: fields.tag, tenant }), JSON.stringify(message));
    logger.info("Job dead-lettered", {
      run_id: fields.runId,
      flow_name: fields.flowName,
      tag: fields.tag,
      reason: fields.reason,
    });
    return true;
  } catch (err) {
    logger.error("Cannot publish dead letter", {
      run_id: fields.runId,
      flow_name: fields.flowName,
      tag: fields.tag,
      reason: fields.reason,
      err_id: ErrId.dlqPublishFailed,
    }, err);
    return false;
  }
}

/** What {@linkcode leaveInvalidJob} needs. */
export interface LeaveInvalidJobOptions {
  /** The runs bucket. */
  runs: KV;
  /** JetStream, for the dead letter. */
  js: JetStreamClient;
  /** The configuration. */
  config: Config;
  /** The worker's id. */
  workerId: string;
  /** The worker's logger. */
  log: Logger;
  /** The tag whose consumer delivered it. */
  tag: string;
  /** The message's delivery count. */
  delivery: number;
  /** The subject it came from. */
  subject: string;
}

/**
 * What an invalid job leaves behind (SPEC §4.2): a `FAILED` snapshot when its run id is known,
 * and an `invalid_job` dead letter. The caller TERMs the message.
 *
 * @param invalid The parse result.
 * @param options Buckets, configuration, worker and where the message came from.
 */
export async function leaveInvalidJob(
  invalid: InvalidJob,
  options: LeaveInvalidJobOptions,
): Promise<void> {
  const log = options.log.child({
    run_id: invalid.runId,
    flow_name: invalid.flowName,
    tag: options.tag,
  });
  log.error("Invalid job; terminating it", {
    err_id: ErrId.invalidJob,
    reason: "invalid_job",
    error: invalid.error,
  });
  if (invalid.runId !== null) {
    try {
      await writeFailedSnapshot(options.runs, {
        runId: invalid.runId,
        key: jobRunKey(options.config, { runId: invalid.runId, subject: options.subject }),
        flowName: invalid.flowName,
        workerId: options.workerId,
        attempt: options.delivery,
        error: invalid.error,
      });
    } catch (err) {
      log.error("Cannot write the FAILED snapshot of an invalid job", {
        err_id: ErrId.terminalWriteFailed,
      }, err);
    }
  }
  const fields = invalidJobFields(invalid, {
    tag: options.tag,
    workerId: options.workerId,
    numDelivered: options.delivery,
    subject: options.subject,
  });
  await publishDlq(fields, { js: options.js, config: options.config, logger: log });
}
