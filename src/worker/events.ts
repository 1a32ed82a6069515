/**
 * Run events on the worker side (SPEC §3 "events stream", §10): every engine lifecycle event and
 * task log line of a run is published as JSON to `pyoco.events.<run_id>` in the events stream, in
 * order, without ever blocking the engine. Logs never go into the run snapshot.
 *
 * Events are published in batches (`src/contract/events.ts`): nothing is sent during the lazy
 * window (`PYOCO_RUNNING_WRITE_AFTER_MS`), so a run that ends within it makes exactly one publish
 * — all its events in one message, sent when the run ends, before the terminal snapshot. A longer
 * run's events are sent as they come, one message per flush, at most 4 flushes a second (one
 * in flight at a time). Every publish is an acknowledged JetStream publish: events are durable
 * before the terminal snapshot says the run is over.
 *
 * @module
 */

import type { JetStreamClient } from "@nats-io/jetstream";
import { encodeEventBatch, MAX_EVENTS_PER_MESSAGE } from "../contract/events.ts";
import { nowSec } from "../contract/wire.ts";
import type { FlowEvent } from "../flow/types.ts";
import type { Logger } from "../log.ts";

/** What the worker publishes besides the engine's own events. */
export type WorkerOnlyEvent =
  /** The run was aborted by a drain and its job handed back for redelivery. */
  | { type: "run.requeued"; run_id: string; reason: string; ts: number }
  /** Task log lines dropped because the run's event queue was full (last event of the run). */
  | { type: "events.dropped"; run_id: string; dropped_logs: number; ts: number };

/** An event as published: an engine event (or a worker one) plus the worker's id. */
export type WorkerEvent = (FlowEvent | WorkerOnlyEvent) & { worker_id: string };

/** Shortest gap between two flushes of a run's events (SPEC §10: at most 4 a second). */
export const EVENTS_FLUSH_INTERVAL_MS = 250;

/**
 * Options of {@linkcode RunEventPublisher}.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export interface RunEventPublisherOptions {
  /** A JetStream client. */
  js: JetStreamClient;
  /** The run's subject, `eventsSubject(config, runId)`. */
  subject: string;
  /** The run id. */
  runId: string;
  /** Added to every event. */
  workerId: string;
  /** Logger with the run's context (publish failures are warned once). */
  logger: Logger;
  /**
   * `task.log` lines waiting to be published at most; beyond it new lines are dropped (and
   * counted in a final `events.dropped` event). Lifecycle events are always kept: there are a
   * few per task attempt.
   * @default {10000}
   */
  maxQueued?: number;
  /** Events in one message at most (1..1000). @default {1000} */
  batchSize?: number;
  /**
   * Size of one message at most, in UTF-16 code units of its JSON (a flush above it is split; an
   * event bigger than this alone goes in a message of its own). Keep it well below the server's
   * `max_payload` (1 MiB by default, in bytes).
   * @default {262144}
   */
  maxMessageChars?: number;
  /**
   * The lazy window (`PYOCO_RUNNING_WRITE_AFTER_MS`): nothing is published before this many
   * milliseconds after the publisher was made, unless {@linkcode RunEventPublisher.flush} ends
   * the run first (then all its events go in one message).
   * @default {0}
   */
  firstFlushAfterMs?: number;
  /**
   * Shortest gap between two flushes, in milliseconds (≥ 250: at most 4 a second).
   * @default {250}
   */
  flushIntervalMs?: number;
  /** Publish at all (`PYOCO_EVENTS_PUBLISH`); when false every event is ignored. @default {true} */
  enabled?: boolean;
}

/** What {@linkcode RunEventPublisher.flush} reports. */
export interface EventStats {
  /** Events the stream acknowledged. */
  published: number;
  /** `task.log` lines dropped because the queue was full. */
  dropped: number;
  /** Events whose publish failed (not retried: a retry would break the order). */
  failed: number;
}

/**
 * Publishes one run's events in order, fire-and-forget, in batches:
 * {@linkcode RunEventPublisher.push} only buffers; a timer flushes the buffer after the lazy
 * window and then at most every `flushIntervalMs`, one publish in flight at a time (so the
 * stream keeps the order); {@linkcode RunEventPublisher.flush} publishes what is left and waits.
 *
 * @example
 * ```ts ignore
 * const events = new RunEventPublisher({ js, subject: "pyoco.events.r1", runId: "r1",
 *   workerId: "w1", logger, firstFlushAfterMs: 50 });
 * await runFlow(flow, { onEvent: (e) => events.push(e) });
 * await events.flush(); // before the terminal snapshot: one message for a short run
 * ```
 */
export class RunEventPublisher {
  readonly #opts: RunEventPublisherOptions;
  readonly #maxQueued: number;
  readonly #batchSize: number;
  readonly #maxChars: number;
  readonly #intervalMs: number;
  readonly #firstFlushAt: number;
  #buffer: WorkerEvent[] = [];
  #bufferedLogs = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #inFlight: Promise<void> | null = null;
  #lastFlushAt = -Infinity;
  #closed = false;
  #published = 0;
  #dropped = 0;
  #failed = 0;
  #messages = 0;
  #warned = false;

  /**
   * Prepare a publisher (nothing is sent before the first flush).
   *
   * @param options Client, subject, ids, bounds, timing.
   * @throws {RangeError} When a bound is not a positive integer, `batchSize` is above 1000 or
   *   `flushIntervalMs` is below 250.
   */
  constructor(options: RunEventPublisherOptions) {
    const bounds = {
      maxQueued: options.maxQueued ?? 10_000,
      batchSize: options.batchSize ?? MAX_EVENTS_PER_MESSAGE,
      maxMessageChars: options.maxMessageChars ?? 262_144,
      flushIntervalMs: options.flushIntervalMs ?? EVENTS_FLUSH_INTERVAL_MS,
    };
    // Checked one by one (made per run: no entries array).
    _positive("maxQueued", bounds.maxQueued);
    _positive("batchSize", bounds.batchSize);
    _positive("maxMessageChars", bounds.maxMessageChars);
    _positive("flushIntervalMs", bounds.flushIntervalMs);
    const firstFlushAfterMs = options.firstFlushAfterMs ?? 0;
    if (!Number.isSafeInteger(firstFlushAfterMs) || firstFlushAfterMs < 0) {
      throw new RangeError(
        `Invalid option firstFlushAfterMs: ${firstFlushAfterMs} is not an integer ≥ 0`,
      );
    }
    if (bounds.batchSize > MAX_EVENTS_PER_MESSAGE) {
      throw new RangeError(
        `Invalid option batchSize: ${bounds.batchSize} is above ${MAX_EVENTS_PER_MESSAGE}`,
      );
    }
    if (bounds.flushIntervalMs < EVENTS_FLUSH_INTERVAL_MS) {
      throw new RangeError(
        `Invalid option flushIntervalMs: ${bounds.flushIntervalMs} is below ` +
          `${EVENTS_FLUSH_INTERVAL_MS} (at most 4 flushes a second)`,
      );
    }
    this.#opts = options;
    this.#maxQueued = bounds.maxQueued;
    this.#batchSize = bounds.batchSize;
    this.#maxChars = bounds.maxMessageChars;
    this.#intervalMs = bounds.flushIntervalMs;
    this.#firstFlushAt = Date.now() + firstFlushAfterMs;
  }

  /** Counters so far. */
  get stats(): EventStats {
    return { published: this.#published, dropped: this.#dropped, failed: this.#failed };
  }

  /** Messages sent so far (acknowledged or not): one per flush unless a flush was split. */
  get messages(): number {
    return this.#messages;
  }

  /**
   * Buffer an event (never blocks, never throws). A `task.log` line is dropped when
   * `maxQueued` lines already wait; nothing is buffered after {@linkcode RunEventPublisher.flush}.
   *
   * @param event An engine event or a worker event.
   */
  push(event: FlowEvent | WorkerOnlyEvent): void {
    if (this.#closed || this.#opts.enabled === false) return;
    this.#add(event);
    this.#schedule();
  }

  /**
   * Stop accepting events, add the `events.dropped` summary when lines were dropped, publish what
   * is buffered (one message for a run whose events were never flushed) and wait until every
   * event was published (or `timeoutMs` passed).
   *
   * @param timeoutMs Longest wait; events not published then are published in the background.
   * @returns The counters.
   */
  async flush(timeoutMs = 5000): Promise<EventStats> {
    if (!this.#closed) {
      if (this.#dropped > 0) {
        this.#add({
          type: "events.dropped",
          run_id: this.#opts.runId,
          dropped_logs: this.#dropped,
          ts: nowSec(),
        });
      }
      this.#closed = true;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
    }
    const done = this.#drainAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
    await Promise.race([done, timeout]);
    clearTimeout(timer);
    if (this.#dropped > 0 || this.#failed > 0) {
      this.#opts.logger.warn("Some run events were not published", {
        run_id: this.#opts.runId,
        dropped_logs: this.#dropped,
        failed_events: this.#failed,
      });
    }
    return this.stats;
  }

  #add(event: FlowEvent | WorkerOnlyEvent): void {
    if (event.type === "task.log") {
      if (this.#bufferedLogs >= this.#maxQueued) {
        this.#dropped++;
        return;
      }
      this.#bufferedLogs++;
    }
    this.#buffer.push({ ...event, worker_id: this.#opts.workerId });
  }

  /** Arm the flush timer: after the lazy window, then at most every `flushIntervalMs`. */
  #schedule(): void {
    if (this.#closed || this.#timer !== null || this.#inFlight !== null) return;
    if (this.#buffer.length === 0) return;
    const due = Math.max(this.#firstFlushAt, this.#lastFlushAt + this.#intervalMs);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed) this.#startFlush();
    }, Math.max(0, due - Date.now()));
  }

  /** Publish the buffer (one publish in flight at a time); re-arm when more came meanwhile. */
  #startFlush(): void {
    const events = this.#buffer;
    this.#buffer = [];
    this.#bufferedLogs = 0;
    this.#lastFlushAt = Date.now();
    this.#inFlight = this.#publish(events).finally(() => {
      this.#inFlight = null;
      this.#schedule();
    });
  }

  /** Wait for the flush in flight, then publish what is left (the last flush of the run). */
  async #drainAll(): Promise<void> {
    while (this.#inFlight !== null) await this.#inFlight;
    if (this.#buffer.length > 0) {
      this.#startFlush();
      await this.#inFlight;
    }
  }

  /** One flush: the events as one message (split above `batchSize` / `maxMessageChars`). */
  async #publish(events: WorkerEvent[]): Promise<void> {
    const texts: string[] = [];
    for (const event of events) {
      try {
        texts.push(JSON.stringify(event));
      } catch (err) {
        this.#fail(1, err); // not JSON (a cycle, a BigInt): that event only
      }
    }
    if (texts.length === 0) return;
    const messages = _split(texts, {
      maxEvents: this.#batchSize,
      maxChars: this.#maxChars,
    });
    // Sent in call order on one connection: the stream stores them in this order.
    const acks = messages.map((texts) =>
      this.#opts.js.publish(this.#opts.subject, encodeEventBatch(texts))
    );
    this.#messages += messages.length;
    const results = await Promise.allSettled(acks);
    results.forEach((r, i) => {
      const n = messages[i]!.length;
      if (r.status === "fulfilled") {
        this.#published += n;
        return;
      }
      this.#fail(n, r.reason);
    });
  }

  #fail(n: number, reason: unknown): void {
    this.#failed += n;
    if (this.#warned) return;
    this.#warned = true;
    this.#opts.logger.warn("Cannot publish run events", {
      run_id: this.#opts.runId,
      subject: this.#opts.subject,
    }, reason);
  }
}

/** Group event texts into messages of at most `maxEvents` events and about `maxChars`. */
function _positive(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`Invalid option ${name}: ${v} is not a positive integer`);
  }
}

function _split(texts: string[], limits: { maxEvents: number; maxChars: number }): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let chars = 0;
  for (const text of texts) {
    const full = current.length >= limits.maxEvents ||
      (current.length > 0 && chars + text.length + 1 > limits.maxChars);
    if (full) {
      out.push(current);
      current = [];
      chars = 0;
    }
    current.push(text);
    chars += text.length + 1;
  }
  if (current.length > 0) out.push(current);
  return out;
}
