/**
 * Run events on the worker side (SPEC §3 "events stream"): every engine lifecycle event and task
 * log line of a run is published as JSON to `pyoco.events.<run_id>` in the events stream, in
 * order, without ever blocking the engine. Logs never go into the run snapshot.
 *
 * @module
 */

import type { JetStreamClient } from "@nats-io/jetstream";
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

/** Options of {@linkcode RunEventPublisher}. */
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
   * Events queued at most; beyond it new `task.log` lines are dropped (and counted in a final
   * `events.dropped` event). Lifecycle events are always kept: there are a few per task attempt.
   * @default {10000}
   */
  maxQueued?: number;
  /** Events published at once (in order, then awaited together). @default {256} */
  batchSize?: number;
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
 * Publishes one run's events in order, fire-and-forget: {@linkcode RunEventPublisher.push} only
 * queues; one drain loop publishes the queue in batches (sent in order on one connection, so the
 * stream keeps the order) and {@linkcode RunEventPublisher.flush} waits until it is empty.
 *
 * @example
 * ```ts ignore
 * const events = new RunEventPublisher({ js, subject: "pyoco.events.r1", runId: "r1",
 *   workerId: "w1", logger });
 * await runFlow(flow, { onEvent: (e) => events.push(e) });
 * await events.flush(); // before the terminal snapshot
 * ```
 */
export class RunEventPublisher {
  readonly #opts: RunEventPublisherOptions;
  readonly #maxQueued: number;
  readonly #batchSize: number;
  #queue: WorkerEvent[] = [];
  #draining: Promise<void> | null = null;
  #closed = false;
  #published = 0;
  #dropped = 0;
  #failed = 0;
  #warned = false;

  /**
   * Prepare a publisher (nothing is sent before the first event).
   *
   * @param options Client, subject, ids, bounds.
   * @throws {RangeError} When `maxQueued` or `batchSize` is not a positive integer.
   */
  constructor(options: RunEventPublisherOptions) {
    const maxQueued = options.maxQueued ?? 10_000;
    const batchSize = options.batchSize ?? 256;
    for (const [name, v] of [["maxQueued", maxQueued], ["batchSize", batchSize]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`Invalid option ${name}: ${v} is not a positive integer`);
      }
    }
    this.#opts = options;
    this.#maxQueued = maxQueued;
    this.#batchSize = batchSize;
  }

  /** Counters so far. */
  get stats(): EventStats {
    return { published: this.#published, dropped: this.#dropped, failed: this.#failed };
  }

  /**
   * Queue an event (never blocks, never throws). A `task.log` line is dropped when the queue is
   * full; nothing is queued after {@linkcode RunEventPublisher.flush}.
   *
   * @param event An engine event or a worker event.
   */
  push(event: FlowEvent | WorkerOnlyEvent): void {
    if (this.#closed || this.#opts.enabled === false) return;
    if (event.type === "task.log" && this.#queue.length >= this.#maxQueued) {
      this.#dropped++;
      return;
    }
    this.#queue.push({ ...event, worker_id: this.#opts.workerId });
    this.#draining ??= this.#drain();
  }

  /**
   * Stop accepting events, add the `events.dropped` summary when lines were dropped, and wait
   * until every queued event was published (or `timeoutMs` passed).
   *
   * @param timeoutMs Longest wait; events still queued then are published in the background.
   * @returns The counters.
   */
  async flush(timeoutMs = 5000): Promise<EventStats> {
    if (!this.#closed) {
      if (this.#dropped > 0) {
        this.push({
          type: "events.dropped",
          run_id: this.#opts.runId,
          dropped_logs: this.#dropped,
          ts: nowSec(),
        });
      }
      this.#closed = true;
    }
    if (this.#draining) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs));
      await Promise.race([this.#draining, timeout]);
      clearTimeout(timer);
    }
    if (this.#dropped > 0 || this.#failed > 0) {
      this.#opts.logger.warn("Some run events were not published", {
        run_id: this.#opts.runId,
        dropped_logs: this.#dropped,
        failed_events: this.#failed,
      });
    }
    return this.stats;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#batchSize);
      // Sent in call order on one connection: the stream stores them in this order.
      const acks = batch.map((event) =>
        this.#opts.js.publish(this.#opts.subject, JSON.stringify(event))
      );
      const results = await Promise.allSettled(acks);
      for (const r of results) {
        if (r.status === "fulfilled") {
          this.#published++;
        } else {
          this.#failed++;
          if (!this.#warned) {
            this.#warned = true;
            this.#opts.logger.warn("Cannot publish run events", {
              run_id: this.#opts.runId,
              subject: this.#opts.subject,
            }, r.reason);
          }
        }
      }
    }
    this.#draining = null;
  }
}
