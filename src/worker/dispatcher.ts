/**
 * The worker's pull loop (SPEC §10, §13): while it has free slots it plans a round of pulls
 * over its queues ({@linkcode WorkQueues.plan}: tenants round-robin by weight, priorities in
 * order) and sends one batched pull per planned queue, for as many jobs as that queue gets —
 * never one pull request per job. Each job that arrives takes a slot and is handed to
 * `handle`; a slot that frees wakes the loop. When nothing is known to wait, one queue at a time
 * gets a one-job pull that waits for work, and the loop refreshes the queues' counts every
 * `pollMs` (the "pull interval"); new tenants are looked for every `DISCOVER_INTERVAL_MS`.
 *
 * @module
 */

import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { abortableSleep } from "../contract/_util.ts";
import type { Logger } from "../log.ts";
import type { PlannedPull, WorkQueue, WorkQueues } from "./queues.ts";

/** Options of {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** The queues. */
  queues: WorkQueues;
  /** Slots: jobs handled at once. */
  concurrency: number;
  /** How long one pull waits for the jobs it asked for, in milliseconds (≥ 1000). */
  expiresMs: number;
  /** How often idle queues' counts are refreshed, in milliseconds. @default {250} */
  pollMs?: number;
  /** Handles one job (never rejects; a rejection is ignored). */
  handle: (msg: JsMsg, queue: WorkQueue) => Promise<unknown>;
  /** Logger. */
  log: Logger;
}

/** The pull loop of one worker; see the module documentation. */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #pollMs: number;
  #busy = 0;
  #reserved = 0;
  #wake: (() => void) | null = null;
  #idle = false;
  #idleCursor = 0;
  /** Something changed since the loop last looked (a wake-up nobody was waiting for). */
  #dirty = false;
  /**
   * A waiting (idle) pull got a job: work arrived, maybe on other queues too, whose counts are
   * as old as the last refresh. The next plan refreshes first, so a high job that came with the
   * normal one gets the next slot instead of the normal job behind it (SPEC §13).
   */
  #stale = false;
  readonly #pulls = new Set<Promise<void>>();
  readonly #handlers = new Set<Promise<unknown>>();
  readonly #batches = new Set<ConsumerMessages>();

  /**
   * Make the loop (it pulls nothing before {@linkcode Dispatcher.run}).
   *
   * @param options Queues, slots, pull timings and the job handler.
   */
  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#pollMs = options.pollMs ?? 250;
  }

  /** Jobs being handled now. */
  get busy(): number {
    return this.#busy;
  }

  /**
   * Pull and dispatch until `stop` aborts; then wait for the pulls in flight (their jobs are
   * handed back with a NAK) and for the jobs being handled.
   *
   * @param stop Ends the loop.
   * @returns When every pull and every job handled by this loop has ended.
   */
  async run(stop: AbortSignal): Promise<void> {
    const { queues, log } = this.#o;
    let refreshedAt = 0;
    while (!stop.aborted) {
      const free = this.#o.concurrency - this.#busy - this.#reserved;
      if (free <= 0) {
        await this.#changed(stop, this.#pollMs);
        continue;
      }
      let plan: PlannedPull[];
      try {
        await queues.discover();
        if (this.#stale || Date.now() - refreshedAt >= this.#pollMs) {
          this.#stale = false;
          await queues.refresh();
          refreshedAt = Date.now();
        }
        plan = queues.plan(free);
      } catch (err) {
        if (stop.aborted) break;
        log.warn("Cannot read the work queues; retrying", {}, err);
        await abortableSleep(1000, stop).catch(() => {});
        continue;
      }
      for (const pull of plan) this.#pull(pull, stop);
      if (plan.length === 0) {
        if (!this.#idle) this.#idlePull(stop, free);
        await this.#changed(stop, this.#pollMs);
      }
    }
    // Pulls in flight end now (what they still bring is handed back); a pull that cannot end —
    // NATS went away with it — is waited for no longer than its expiry.
    for (const batch of this.#batches) batch.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#pulls),
      new Promise((resolve) => timer = setTimeout(resolve, this.#o.expiresMs + 1000)),
    ]);
    clearTimeout(timer);
    while (this.#handlers.size > 0) await Promise.all(this.#handlers);
  }

  /**
   * While no queue is known to have work, one queue at a time gets a pull that waits (up to
   * `expiresMs`): jobs published to it are taken as they arrive instead of at the next refresh,
   * and a job whose worker died (back after AckWait, but not counted in `num_pending`) is found.
   * Queues with jobs unacknowledged go first, then the normal-priority ones, in turn; a normal
   * queue's pull asks for all free slots but one, any other queue's for one job.
   */
  #idlePull(stop: AbortSignal, free: number): void {
    const idle = this.#o.queues.queues.filter((q) =>
      !q.fetching && q.pending <= 0 && q.ackPending < q.maxAckPending
    );
    const unacked = idle.filter((q) => q.ackPending > 0);
    const candidates = unacked.length > 0 ? unacked : idle.filter((q) => q.priority === "normal");
    if (candidates.length === 0) return;
    const queue = candidates[this.#idleCursor++ % candidates.length]!;
    this.#idle = true;
    // All free slots but one wait on it (a burst is taken at once, as arrives); the one left
    // lets the next refresh give another queue (a higher priority, another tenant) a slot.
    const count = queue.priority === "normal" ? Math.max(1, free - 1) : 1;
    this.#pull({ queue, count }, stop, () => this.#idle = false);
  }

  /** One batched pull: its jobs take the slots reserved for them as they arrive. */
  #pull(pull: PlannedPull, stop: AbortSignal, ended?: () => void): void {
    const { queue, count } = pull;
    queue.fetching = true;
    this.#reserved += count;
    const task = (async () => {
      let got = 0;
      let batch: ConsumerMessages | null = null;
      try {
        batch = await queue.consumer.fetch({
          max_messages: count,
          expires: this.#o.expiresMs,
        });
        this.#batches.add(batch);
        for await (const msg of batch) {
          got++;
          this.#reserved--;
          if (ended !== undefined) this.#stale = true;
          queue.pending = msg.info.pending;
          if (stop.aborted) {
            msg.nak(); // pulled while stopping: hand it back at once
          } else this.#dispatch(msg, queue);
          if (got >= count) break;
        }
      } catch (err) {
        if (!stop.aborted) {
          // NATS going away (a stop of the whole stack, a restart) ends pulls with this; the
          // loop retries, and a lasting outage shows in the refresh's warning.
          const going = /shutdown|closed|draining/i.test(String((err as Error)?.message));
          const fields = { consumer: queue.durable };
          if (going) this.#o.log.debug("Pull ended: NATS is going away", fields);
          else this.#o.log.warn("Cannot pull jobs; retrying", fields, err);
        }
      } finally {
        if (batch !== null) this.#batches.delete(batch);
        this.#reserved -= count - got;
        if (got < count) queue.pending = 0; // fewer than thought: the next refresh says how many
        queue.fetching = false;
        ended?.();
        this.#wakeUp();
      }
    })();
    this.#pulls.add(task);
    task.finally(() => this.#pulls.delete(task));
  }

  #dispatch(msg: JsMsg, queue: WorkQueue): void {
    this.#busy++;
    const handler = this.#o.handle(msg, queue).catch(() => {}).finally(() => {
      this.#busy--;
      this.#handlers.delete(handler);
      this.#wakeUp();
    });
    this.#handlers.add(handler);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    if (wake) wake();
    else this.#dirty = true;
  }

  /**
   * Wait until a slot frees or a pull ends, `stop` aborts, or `ms` pass. One timer and one abort
   * listener, both removed on wake: this runs about once per job, and an `AbortController`
   * aborted per wait (with `AbortSignal.any`) cost a `DOMException` each (docs/performance.md).
   */
  async #changed(stop: AbortSignal, ms: number): Promise<void> {
    if (this.#dirty) {
      this.#dirty = false;
      return;
    }
    if (stop.aborted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake!: () => void;
    await new Promise<void>((resolve) => {
      wake = resolve;
      this.#wake = resolve;
      timer = setTimeout(resolve, ms);
      stop.addEventListener("abort", wake, { once: true });
    });
    clearTimeout(timer);
    stop.removeEventListener("abort", wake);
    if (this.#wake === wake) this.#wake = null;
  }
}
