/**
 * Dead letters (SPEC §4 "DLQ message"): what the worker publishes to `pyoco.dlq.<tag>` when a job
 * is invalid, its flow is unknown, or its execution failed — with the original job payload so it
 * can be replayed.
 *
 * @module
 */

import type { JetStreamClient } from "@nats-io/jetstream";
import { type Config, dlqSubject } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import type { DlqMessage, DlqReason, Job } from "../contract/wire.ts";
import { nowSec } from "../contract/wire.ts";
import type { Logger } from "../log.ts";

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
}

/**
 * Build a dead letter with exactly the fields of SPEC §4.
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
  };
}

/**
 * Publish a dead letter to `<dlq prefix>.<tag>` with JetStream. Never throws: a failure is
 * logged with ERR-PYOCO-0011.
 *
 * @param js A JetStream client.
 * @param config The configuration (subject prefix).
 * @param fields What happened and to which job.
 * @param logger Where a failure is reported.
 * @returns Whether the stream stored it.
 */
export async function publishDlq(
  js: JetStreamClient,
  config: Config,
  fields: DlqFields,
  logger: Logger,
): Promise<boolean> {
  const message = buildDlqMessage(fields);
  try {
    await js.publish(dlqSubject(config, fields.tag), JSON.stringify(message));
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
