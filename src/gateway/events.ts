/**
 * Run events **[beyond]**: `GET /runs/{id}/events?after_seq=&limit=` reads the run's subject
 * `pyoco.events.<run_id>` of the `PYOCO_EVENTS` stream in order. Workers publish there the run
 * and task lifecycle events and every `ctx.log()` line (the engine's `FlowEvent` objects:
 * `{type, run_id, ts, task?, attempt?, error?, message?, …}`), so snapshots stay small.
 *
 * Workers publish them in batches (SPEC §10; `src/contract/events.ts` holds the wire shape):
 * a stored message is expanded into its events, each with its own `seq`, so a page may end in
 * the middle of a batch and `after_seq` resumes there. Single-event messages (from workers that
 * did not batch) read as before, their `seq` being their stream sequence.
 *
 * Reads use a short-lived ordered pull consumer filtered on the run's subject, starting at the
 * message that holds the event after `after_seq`: one consumer create (its info tells how many
 * messages are pending), fetches of at most the messages the page still needs, one delete. The
 * cost depends on the page, not on the stream's size; nats-server 2.9 has no batched direct
 * get, and a `next_by_subj` get per message would cost one round trip per message.
 *
 * @module
 */

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { type Config, eventsSubject } from "../config.ts";
import { natsCall } from "../runs/backend.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import {
  eventPosition,
  eventStartSeq,
  expandEventMessage,
  lastItemSeq,
  type RunEvent,
} from "../contract/events.ts";
import { type FieldError, invalidRequest } from "./errors.ts";
import { readRun } from "./runs.ts";

/** Default and maximum of `GET /runs/{id}/events?limit=`. */
export const EVENTS_LIMIT = { default: 100, max: 1000 } as const;

/** One stored event: its `seq` plus the published JSON object (the shared wire shape). */
export type StoredRunEvent = RunEvent;

/** Messages fetched at once while a page is short (a batch message may hold 1000 events). */
const _FETCH_CHUNK = 16;

/** Options of {@linkcode readRunEvents}. */
export interface ReadRunEventsOptions {
  /** Only events after this `seq`. @default {0} */
  afterSeq?: number;
  /** At most this many. @default {100} */
  limit?: number;
  /** How long to wait for the pending events to arrive. @default {5000} */
  timeoutMs?: number;
  /** The run's tenant (`tenant_id`): its events subject in namespaced mode (SPEC §13). */
  tenant?: string | null;
}

/**
 * Read a run's events in order.
 *
 * @param js A JetStream client.
 * @param config The configuration (events stream and subject prefix).
 * @param runId The run.
 * @param options `afterSeq`, `limit`, `timeoutMs`.
 * @returns The events (ascending `seq`).
 * @throws {Error} The nats.js error when JetStream does not answer.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export async function readRunEvents(
  js: JetStreamClient,
  config: Config,
  runId: string,
  options: ReadRunEventsOptions = {},
): Promise<StoredRunEvent[]> {
  const afterSeq = options.afterSeq ?? 0;
  const limit = options.limit ?? EVENTS_LIMIT.default;
  const after = eventPosition(afterSeq);
  const consumer = await js.consumers.get(config.eventsStream, {
    filter_subjects: eventsSubject(config, runId, { tenant: options.tenant }),
    opt_start_seq: eventStartSeq(afterSeq),
    inactive_threshold: 30_000,
  });
  const events: StoredRunEvent[] = [];
  try {
    let pending = (await consumer.info(true)).num_pending;
    // Every message holds at least one event: never more messages than events still wanted.
    while (pending > 0 && events.length < limit) {
      const want = Math.min(limit - events.length, pending, _FETCH_CHUNK);
      const messages = await consumer.fetch({
        max_messages: want,
        expires: options.timeoutMs ?? 5000,
      });
      let got = 0;
      for await (const m of messages) {
        events.push(...expandEventMessage(m.seq, m.data, after));
        if (++got >= want) break;
      }
      if (got === 0) break;
      pending -= got;
    }
  } finally {
    await consumer.delete().catch(() => {});
  }
  return events.slice(0, limit);
}

/**
 * The `seq` of a run's last event.
 *
 * @param jsm A JetStream manager.
 * @param config The configuration.
 * @param runId The run.
 * @param options The run's tenant (its events subject in namespaced mode).
 * @returns The `seq`, or 0 when the run has no event.
 * @throws {Error} When JetStream does not answer.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export async function lastEventSeq(
  jsm: JetStreamManager,
  config: Config,
  runId: string,
  options: { tenant?: string | null } = {},
): Promise<number> {
  const m = await jsm.streams.getMessage(config.eventsStream, {
    last_by_subj: eventsSubject(config, runId, options),
  });
  return m ? lastItemSeq(m.seq, m.data) : 0;
}

function _nonNegativeInt(text: string | null, path: string, errors: FieldError[]): number | null {
  if (text === null) return null;
  const t = text.trim();
  // 16 digits: a batched event's `seq` is 10^15 + stream sequence × 1000 + index.
  if (!/^\d{1,16}$/.test(t) || !Number.isSafeInteger(Number(t))) {
    errors.push({ path, message: "must be a non-negative integer" });
    return null;
  }
  return Number(t);
}

/** `GET /runs/{id}/events?after_seq=&limit=`: `{run_id, events, next_after_seq}`. */
export async function getRunEvents(ctx: RouteContext): Promise<Response> {
  const q = ctx.url.searchParams;
  const errors: FieldError[] = [];
  const afterSeq = _nonNegativeInt(q.get("after_seq"), "after_seq", errors) ?? 0;
  const limitValue = _nonNegativeInt(q.get("limit"), "limit", errors);
  if (limitValue !== null && (limitValue < 1 || limitValue > EVENTS_LIMIT.max)) {
    errors.push({ path: "limit", message: `must be an integer from 1 to ${EVENTS_LIMIT.max}` });
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot read the run's events");
  const { snapshot } = await readRun(ctx, backend);
  const events = await natsCall(
    () =>
      readRunEvents(backend.js, ctx.config, snapshot.run_id, {
        afterSeq,
        limit: limitValue ?? EVENTS_LIMIT.default,
        timeoutMs: backend.timeoutMs,
        tenant: snapshot.tenant_id,
      }),
    `Cannot read the events of run ${snapshot.run_id}`,
    2 * backend.timeoutMs,
  );
  return json({
    run_id: snapshot.run_id,
    events,
    next_after_seq: events.length > 0 ? events[events.length - 1]!.seq : afterSeq,
  });
}
