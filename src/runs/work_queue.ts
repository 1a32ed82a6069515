/**
 * Reading the work stream's queued jobs. A work-queue stream takes no second consumer on a
 * subject its workers consume, so queued messages are read one by one with STREAM.MSG.GET
 * `next_by_subj` (the next message on a subject from a sequence; nats-server 2.9+). A job that
 * is delivered but not yet acknowledged is still in the stream. Used by the sweeper (is an old
 * `PENDING` run's job there?) and by cancel (take a cancelled run's job out of the queue).
 *
 * @module
 */

import type { MsgRequest, StoredMsg } from "@nats-io/jetstream";
import type { Config } from "../config.ts";
import type { RunsBackend } from "./backend.ts";

/** At most this many queued jobs of one subject are read in one scan. */
export const QUEUE_SCAN_MAX = 100_000;

/**
 * Visit the queued messages of one work subject, oldest first, until `visit` returns `true`.
 *
 * @param backend The NATS side.
 * @param config The configuration (work stream).
 * @param options The subject, and what to do with each message.
 * @returns `false` when the subject holds more than {@linkcode QUEUE_SCAN_MAX} messages (nothing
 *   was read), else `true`.
 * @throws {Error} The nats.js error when JetStream does not answer.
 */
export async function scanQueued(
  backend: Pick<RunsBackend, "jsm">,
  config: Config,
  options: { subject: string; visit: (msg: StoredMsg) => boolean | void },
): Promise<boolean> {
  const { subject } = options;
  const info = await backend.jsm.streams.info(config.workStream, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return true;
  if (count > QUEUE_SCAN_MAX) return false;
  let seq = info.state.first_seq;
  for (let seen = 0; seen < count && seq <= info.state.last_seq; seen++) {
    // nats.js types `next_by_subj` for direct gets only; the work stream need not allow them.
    const request = { seq, next_by_subj: subject } as unknown as MsgRequest;
    const m = await backend.jsm.streams.getMessage(config.workStream, request);
    if (m === null || options.visit(m) === true) break;
    seq = m.seq + 1;
  }
  return true;
}

/**
 * Take a run's queued job out of the work stream (a run cancelled while PENDING: its job would
 * otherwise count as queued until a worker pulls and drops it). Best effort.
 *
 * @param backend The NATS side.
 * @param config The configuration.
 * @param options The run id and the work subject its job was published on.
 * @returns Whether a job was found and deleted.
 * @throws {Error} The nats.js error when JetStream does not answer.
 */
export async function dropQueuedJob(
  backend: Pick<RunsBackend, "jsm">,
  config: Config,
  options: { runId: string; subject: string },
): Promise<boolean> {
  let seq: number | null = null;
  await scanQueued(backend, config, {
    subject: options.subject,
    visit: (m) => {
      if (m.header?.get("Nats-Msg-Id") !== options.runId) return false;
      seq = m.seq;
      return true;
    },
  });
  if (seq === null) return false;
  return await backend.jsm.streams.deleteMessage(config.workStream, seq, false);
}
