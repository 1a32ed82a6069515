/**
 * Dead-letter management (SPEC §15): replay marks, delete, and bulk replay. Stream messages are
 * immutable, so what happened to an entry is kept beside it in the history bucket
 * (`PYOCO_HISTORY_KV_BUCKET`, default `pyoco_history`) at `dlq.<seq>`:
 * `{seq, replayed_as: [run_id…], updated_at}` — written (compare-and-set) after each replay,
 * read back as the entry's `replayed_as` in `GET /dlq` and the admin CLI, and removed with the
 * entry. The bucket's TTL outlives the DLQ's `max_age`, so marks of aged-out entries go too.
 *
 * Decisions (also in `docs/spec.md`):
 * - `DELETE /dlq/{seq}` removes the message from the stream (`STREAM.MSG.DELETE`) and its mark;
 *   tenant-scoped like the list (another tenant's entry is "not found").
 * - `POST /dlq/replay` `{tag?, reason?, flow?, limit? (1..100, 20), include_replayed?}` replays the
 *   newest matching entries, oldest of them first; entries already replayed are skipped unless
 *   `include_replayed: true` (so repeating a bulk replay does not double the runs). Each entry is
 *   answered in its place: `{seq, run_id, status, replayed_from}` or `{seq, error: {…}}`; one
 *   failure never stops the others.
 * - A mark lists at most {@linkcode REPLAY_MARK_MAX} run ids (the newest).
 *
 * @module
 */

import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Config } from "../config.ts";
import { ErrId, msgIdFor } from "../contract/errors.ts";
import type { DeadLetter } from "../contract/views.ts";
import type { ErrorBody, SubmitResponse } from "../contract/wire.ts";
import { casUpdate } from "../nats/kv.ts";
import {
  DeadLetterNotFoundError,
  DeadLetterNotReplayableError,
  getDeadLetter,
  listDeadLetters,
  replayDeadLetter,
} from "./dead_letters.ts";
import { RunStoreError } from "./errors.ts";
import type { SubmitContext } from "./submit.ts";

/** A mark keeps at most this many run ids. */
export const REPLAY_MARK_MAX = 100;

/** Default and maximum `limit` of a bulk replay. */
export const BULK_REPLAY_LIMIT = { default: 20, max: 100 } as const;

/** The record at `dlq.<seq>` in the history bucket. */
export interface ReplayMark {
  /** The dead letter's stream sequence. */
  seq: number;
  /** Runs it was replayed as, oldest first. */
  replayed_as: string[];
  /** Last change (unix seconds). */
  updated_at: number;
}

function _key(seq: number): string {
  return `dlq.${seq}`;
}

/**
 * Record that a dead letter was replayed as a run (compare-and-set, retried on conflicts).
 *
 * @param history The history bucket.
 * @param seq The dead letter's sequence.
 * @param runId The new run.
 * @returns The mark after the write.
 * @throws {Error} The nats.js error when KV does not answer.
 */
export async function markReplayed(history: KV, seq: number, runId: string): Promise<ReplayMark> {
  const written = await casUpdate<ReplayMark>(history, _key(seq), (current) => {
    const ids = [...(current?.value.replayed_as ?? []), runId].slice(-REPLAY_MARK_MAX);
    return { seq, replayed_as: ids, updated_at: Date.now() / 1000 };
  });
  return written!.value;
}

/**
 * Add `replayed_as` to dead letters (an empty list when never replayed).
 *
 * @param history The history bucket.
 * @param entries The entries.
 * @returns The entries with their marks (new objects).
 * @throws {Error} The nats.js error when KV does not answer.
 */
export async function withReplayMarks(history: KV, entries: DeadLetter[]): Promise<DeadLetter[]> {
  const marks = await Promise.all(entries.map((e) => history.get(_key(e.seq))));
  return entries.map((entry, i) => {
    const m = marks[i];
    let ids: string[] = [];
    if (m && m.operation === "PUT" && m.length > 0) {
      try {
        const value = m.json<Partial<ReplayMark>>();
        if (Array.isArray(value.replayed_as)) ids = value.replayed_as.map(String);
      } catch { /* a foreign value: no mark */ }
    }
    return { ...entry, replayed_as: ids };
  });
}

/** Options of {@linkcode deleteDeadLetter}. */
export interface DeleteDeadLetterOptions {
  /** Only this tenant's entries; `undefined` means any. */
  tenantId?: string | null;
}

/**
 * Delete a dead letter from the stream, and its replay mark.
 *
 * @param backend A JetStream manager and the history bucket.
 * @param config The configuration (DLQ stream).
 * @param seq The entry's sequence.
 * @param options The caller's tenant.
 * @returns `{seq, deleted: true}`.
 * @throws {DeadLetterNotFoundError} When there is no such entry (for this tenant).
 * @throws {Error} The nats.js error when JetStream does not answer.
 */
export async function deleteDeadLetter(
  backend: { jsm: JetStreamManager; history: KV },
  config: Config,
  seq: number,
  options: DeleteDeadLetterOptions = {},
): Promise<{ seq: number; deleted: true }> {
  await getDeadLetter(backend.jsm, config, seq, options.tenantId);
  const gone = await backend.jsm.streams.deleteMessage(config.dlqStream, seq, false)
    .catch((err) => {
      if (/no message found/i.test(String((err as Error)?.message))) return false;
      throw err;
    });
  if (!gone) throw new DeadLetterNotFoundError(seq);
  await backend.history.purge(_key(seq)).catch(() => {});
  return { seq, deleted: true };
}

/** The filter of a bulk replay. */
export interface BulkReplayFilter {
  /** Only this tag. */
  tag?: string | null;
  /** Only this reason. */
  reason?: string | null;
  /** Only this flow. */
  flow?: string | null;
  /** At most this many entries. @default {20} */
  limit?: number;
  /** Replay entries that were replayed before too. @default {false} */
  includeReplayed?: boolean;
  /** Only this tenant's entries; `undefined` means any. */
  tenantId?: string | null;
}

/** One entry's answer in a bulk replay. */
export type BulkReplayItem =
  | ({ seq: number } & SubmitResponse & { replayed_from: number })
  | { seq: number; error: ErrorBody };

/**
 * Replay one dead letter and mark it (the mark is best effort: the run exists either way).
 *
 * @param ctx Submit context and the JetStream manager and history bucket.
 * @param seq The entry.
 * @param options The caller's tenant.
 * @returns The new run.
 * @throws {DeadLetterNotFoundError} When there is no such entry (for this tenant).
 * @throws {DeadLetterNotReplayableError} When its job cannot be submitted.
 * @throws {NatsUnavailableError} When the submit fails.
 */
export async function replayAndMark(
  ctx: SubmitContext & { jsm: JetStreamManager; history: KV },
  seq: number,
  options: { tenantId?: string | null } = {},
): Promise<SubmitResponse & { replayed_from: number; replayed_as: string[] }> {
  const answer = await replayDeadLetter(ctx, ctx.jsm, seq, options);
  let replayedAs = [answer.run_id];
  try {
    replayedAs = (await markReplayed(ctx.history, seq, answer.run_id)).replayed_as;
  } catch (err) {
    ctx.logger.warn("Cannot record the replay of a dead letter", {
      seq,
      run_id: answer.run_id,
    }, err);
  }
  return { ...answer, replayed_as: replayedAs };
}

function _errorBody(err: unknown): ErrorBody {
  if (err instanceof RunStoreError) return err.toBody();
  const errId = err instanceof DeadLetterNotFoundError
    ? ErrId.dlqEntryNotFound
    : err instanceof DeadLetterNotReplayableError
    ? ErrId.invalidRequest
    : ErrId.natsUnavailable;
  return { detail: (err as Error)?.message ?? String(err), err_id: errId, msg_id: msgIdFor(errId) };
}

/**
 * Replay every dead letter that matches a filter (newest `limit` of them, submitted oldest
 * first), each answered in its place.
 *
 * @param ctx Submit context and the JetStream manager and history bucket.
 * @param filter Tag, reason, flow, limit, whether to include replayed entries, the tenant.
 * @returns `{items, replayed, failed, skipped_replayed}`.
 * @throws {Error} The nats.js error when the DLQ cannot be listed.
 */
export async function replayDeadLetters(
  ctx: SubmitContext & { jsm: JetStreamManager; history: KV },
  filter: BulkReplayFilter,
): Promise<
  { items: BulkReplayItem[]; replayed: number; failed: number; skipped_replayed: number }
> {
  const limit = Math.min(
    Math.max(1, filter.limit ?? BULK_REPLAY_LIMIT.default),
    BULK_REPLAY_LIMIT.max,
  );
  let skipped = 0;
  const chosen: DeadLetter[] = [];
  // Read a few pages more than `limit`: replayed entries are skipped after reading.
  const listed = await listDeadLetters(ctx.jsm, ctx.config, {
    tag: filter.tag,
    reason: filter.reason,
    flowName: filter.flow,
    limit: filter.includeReplayed ? limit : Math.min(1000, limit * 10),
    tenantId: filter.tenantId,
  });
  for (const entry of await withReplayMarks(ctx.history, listed)) {
    if (!filter.includeReplayed && (entry.replayed_as?.length ?? 0) > 0) {
      skipped++;
      continue;
    }
    if (chosen.length < limit) chosen.push(entry);
  }
  chosen.reverse(); // oldest first: runs are queued in the order they failed
  const items: BulkReplayItem[] = [];
  for (const entry of chosen) {
    try {
      const { replayed_as: _marks, ...answer } = await replayAndMark(ctx, entry.seq, {
        tenantId: filter.tenantId,
      });
      items.push({ seq: entry.seq, ...answer });
    } catch (err) {
      items.push({ seq: entry.seq, error: _errorBody(err) });
    }
  }
  const failed = items.filter((i) => "error" in i).length;
  return { items, replayed: items.length - failed, failed, skipped_replayed: skipped };
}
