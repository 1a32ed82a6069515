/**
 * Run events on the wire: what the worker publishes on `pyoco.events.<run_id>`, what
 * `GET /runs/{id}/events` answers and what `event` frames of the watch stream carry. One shape
 * for the gateway, the client and the dashboard.
 *
 * **Messages** (SPEC §10). A worker publishes a run's events in batches: one message
 * `{"type": "events.batch", "events": [<event>, …]}` per flush (at most
 * {@linkcode MAX_EVENTS_PER_MESSAGE} events each) — a run that ends within the lazy window is one
 * message. A message holding a single event object (what workers published before batching, or
 * anyone publishing by hand) is still read as that one event. {@linkcode expandEventMessage} is
 * the one place that turns a stored message into per-event items.
 *
 * **Sequence numbers.** Every item has a `seq`, strictly increasing in the order the stream
 * stores them, so that `after_seq` paging and `Last-Event-ID` resume work in the middle of a
 * batch:
 * - a single-event message: `seq` = its stream sequence (as before batching);
 * - item `i` (0-based) of a batch message stored at stream sequence `s`:
 *   `seq = 10^15 + s × 1000 + i` ({@linkcode BATCH_SEQ_BASE}), so `1000000000000123004` reads
 *   "item 4 of the message at stream sequence 123". Batch items sort after every single-event
 *   sequence; stream sequences up to 8 × 10^12 stay exact integers.
 *
 * A reader resumes from an item's position ({@linkcode eventPosition}), not by comparing numbers:
 * messages before the position's stream sequence are skipped, then the items of that message up
 * to its index.
 *
 * @module
 */

/**
 * One stored event of a run: the JSON object the worker published plus its `seq`
 * (`GET /runs/{id}/events`, or `event` frames of `GET /runs/{id}/watch`). A payload that is not
 * a JSON object is kept as text: `{ seq, type: "unknown", data }`.
 */
export interface RunEvent {
  /** Position in the run's events; pass it as `afterSeq` / `after_seq` to read what follows. */
  seq: number;
  /**
   * `run.started`, `task.started`, `task.succeeded`, `task.failed`, `task.retrying`, `task.log`,
   * `run.completed`, `run.failed`, `run.cancelled`, `events.dropped` (or `unknown`).
   */
  type: string;
  /** The run. */
  run_id?: string;
  /** When it happened (unix seconds). */
  ts?: number;
  /** The task, for `task.*` events. */
  task?: string;
  /** The task attempt (1-based), for `task.*` events. */
  attempt?: number;
  /** The line a task logged with `ctx.log()` (`task.log`). */
  message?: string;
  /** Why it failed (`task.failed`, `task.retrying`, `run.failed`, `run.cancelled`). */
  error?: string | null;
  /** Any other field the worker published. */
  [field: string]: unknown;
}

/** The `type` of a batch message (`{"type": "events.batch", "events": [...]}`). */
export const EVENT_BATCH_TYPE = "events.batch";

/** The text every batch message starts with (then the events, then `]}`). */
export const EVENT_BATCH_PREFIX = `{"type":"${EVENT_BATCH_TYPE}","events":[`;

/** Most events one batch message holds (the width of the index part of a batch item's `seq`). */
export const MAX_EVENTS_PER_MESSAGE = 1000;

/** Where batch item sequences start: `seq = BATCH_SEQ_BASE + stream_seq × 1000 + index`. */
export const BATCH_SEQ_BASE = 1_000_000_000_000_000;

/** Where an item sits in the stream: its message's stream sequence and its index there. */
export interface EventPosition {
  /** Stream sequence of the message. */
  streamSeq: number;
  /** Index in the message (0 for a single-event message). */
  index: number;
}

/**
 * Encode one batch message from its events' JSON texts (the worker measures each event's size
 * once, to split a flush below the server's payload limit).
 *
 * @param eventTexts Each event as JSON text, in order (1..{@linkcode MAX_EVENTS_PER_MESSAGE}).
 * @returns The JSON text to publish.
 * @throws {RangeError} When there are no events or too many.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = encodeEventBatch(['{"type":"run.started"}', '{"type":"run.completed"}']);
 * assert.equal(JSON.parse(text).events.length, 2);
 * ```
 */
export function encodeEventBatch(eventTexts: readonly string[]): string {
  if (eventTexts.length < 1 || eventTexts.length > MAX_EVENTS_PER_MESSAGE) {
    throw new RangeError(
      `Cannot encode an event batch of ${eventTexts.length} events: 1 to ${MAX_EVENTS_PER_MESSAGE}`,
    );
  }
  return `${EVENT_BATCH_PREFIX}${eventTexts.join(",")}]}`;
}

/**
 * The `seq` of an item.
 *
 * @param position The message's stream sequence and the item's index in it.
 * @param batched Whether the message is a batch (a single-event message's item is its sequence).
 * @returns The item's `seq`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(eventSeq({ streamSeq: 123, index: 4 }, true), 1_000_000_000_123_004);
 * assert.equal(eventSeq({ streamSeq: 123, index: 0 }, false), 123);
 * ```
 */
export function eventSeq(position: EventPosition, batched: boolean): number {
  return batched ? BATCH_SEQ_BASE + position.streamSeq * 1000 + position.index : position.streamSeq;
}

/**
 * Where an item with this `seq` sits (the inverse of {@linkcode eventSeq}); `after_seq` and
 * `Last-Event-ID` are resumed from it. A single-event sequence `s` is `{streamSeq: s, index:
 * Infinity}`: the whole message was read.
 *
 * @param seq An item's `seq` (0 = before everything).
 * @returns Its position.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(eventPosition(1_000_000_000_123_004), { streamSeq: 123, index: 4 });
 * assert.deepEqual(eventPosition(7), { streamSeq: 7, index: Infinity });
 * ```
 */
export function eventPosition(seq: number): EventPosition {
  if (seq < BATCH_SEQ_BASE) return { streamSeq: seq, index: Infinity };
  const rest = seq - BATCH_SEQ_BASE;
  return { streamSeq: Math.floor(rest / 1000), index: rest % 1000 };
}

/**
 * Whether an item comes after a position (stream order, then index).
 *
 * @param item The item's position.
 * @param after The position read so far.
 * @returns `true` when the item was not read yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isAfterPosition({ streamSeq: 5, index: 2 }, eventPosition(1_000_000_000_005_001)));
 * assert.ok(!isAfterPosition({ streamSeq: 5, index: 0 }, eventPosition(5)));
 * ```
 */
export function isAfterPosition(item: EventPosition, after: EventPosition): boolean {
  return item.streamSeq > after.streamSeq ||
    (item.streamSeq === after.streamSeq && item.index > after.index);
}

/**
 * The stream sequence a reader starts at to get every item after `afterSeq`.
 *
 * @param afterSeq The last `seq` read (0 = from the start).
 * @returns A stream sequence ≥ 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(eventStartSeq(0), 1);
 * assert.equal(eventStartSeq(7), 8);
 * assert.equal(eventStartSeq(1_000_000_000_005_001), 5);
 * ```
 */
export function eventStartSeq(afterSeq: number): number {
  const p = eventPosition(afterSeq);
  return Math.max(1, p.index === Infinity ? p.streamSeq + 1 : p.streamSeq);
}

function _item(value: unknown, seq: number): RunEvent {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    return { ...v, type: typeof v.type === "string" ? v.type : "unknown", seq };
  }
  return { seq, type: "unknown", data: typeof value === "string" ? value : JSON.stringify(value) };
}

/**
 * Expand a stored message into its per-event items (a batch into its events, anything else into
 * one item; a payload that is not JSON is kept as text, `{seq, type: "unknown", data}`).
 *
 * @param streamSeq The message's stream sequence.
 * @param data The payload.
 * @param after Only items after this position (as read so far); all when omitted.
 * @returns The items, ascending `seq`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = new TextEncoder().encode(encodeEventBatch(['{"type":"a"}', '{"type":"b"}']));
 * const items = expandEventMessage(9, data);
 * assert.deepEqual(items.map((e) => [e.type, e.seq]), [
 *   ["a", 1_000_000_000_009_000],
 *   ["b", 1_000_000_000_009_001],
 * ]);
 * assert.deepEqual(expandEventMessage(9, data, eventPosition(items[0]!.seq)), [items[1]]);
 * assert.deepEqual(expandEventMessage(3, new TextEncoder().encode("hi")), [
 *   { seq: 3, type: "unknown", data: "hi" },
 * ]);
 * ```
 */
export function expandEventMessage(
  streamSeq: number,
  data: Uint8Array,
  after?: EventPosition,
): RunEvent[] {
  const text = new TextDecoder().decode(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  const batch = _batchEvents(value);
  if (batch === null) {
    if (after && !isAfterPosition({ streamSeq, index: 0 }, after)) return [];
    return [_item(value, streamSeq)];
  }
  const items: RunEvent[] = [];
  batch.forEach((event, index) => {
    if (after && !isAfterPosition({ streamSeq, index }, after)) return;
    items.push(_item(event, eventSeq({ streamSeq, index }, true)));
  });
  return items;
}

/** The events of a batch message, or `null` when it is not one. */
function _batchEvents(value: unknown): unknown[] | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as { type?: unknown; events?: unknown };
  if (v.type !== EVENT_BATCH_TYPE || !Array.isArray(v.events)) return null;
  return v.events.slice(0, MAX_EVENTS_PER_MESSAGE);
}

/**
 * The `seq` of the last item of a stored message (what a reader has read once it has the whole
 * message).
 *
 * @param streamSeq The message's stream sequence.
 * @param data The payload.
 * @returns The `seq` of its last item.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = new TextEncoder().encode(encodeEventBatch(['{"type":"a"}', '{"type":"b"}']));
 * assert.equal(lastItemSeq(9, data), 1_000_000_000_009_001);
 * ```
 */
export function lastItemSeq(streamSeq: number, data: Uint8Array): number {
  const last = expandEventMessage(streamSeq, data).at(-1);
  // An empty batch has no item: just before where its first one would be.
  return last?.seq ?? eventSeq({ streamSeq, index: 0 }, true) - 1;
}
