/**
 * A pulled message held by the worker (SPEC §4.2): kept alive with `in_progress` ACKs every
 * `PYOCO_ACK_PROGRESS_INTERVAL_SEC` (< AckWait) while its job is handled, then answered — an
 * ACK, a NAK (with or without delay) or a TERM. Answering never throws: a failure is
 * logged, and JetStream redelivers the message after AckWait.
 *
 * @module
 */

import type { JsMsg } from "@nats-io/jetstream";
import { ErrId } from "../contract/errors.ts";
import type { Logger } from "../log.ts";

/** Options of {@linkcode JobLease}. */
export interface JobLeaseOptions {
  /** Where failures to answer are reported (replace it with {@linkcode JobLease.useLogger}). */
  logger: Logger;
  /** How often `in_progress` is sent while kept alive, in milliseconds. */
  progressIntervalMs: number;
}

/** One pulled message: its keep-alive and its answer. */
export class JobLease {
  readonly #msg: JsMsg;
  readonly #intervalMs: number;
  #log: Logger;
  #timer: ReturnType<typeof setInterval> | null = null;

  /**
   * Hold a message (the keep-alive starts with {@linkcode JobLease.keepAlive}).
   *
   * @param msg The pulled message.
   * @param options The logger and the `in_progress` interval.
   */
  constructor(msg: JsMsg, options: JobLeaseOptions) {
    this.#msg = msg;
    this.#log = options.logger;
    this.#intervalMs = options.progressIntervalMs;
  }

  /** The message body. */
  get data(): Uint8Array {
    return this.#msg.data;
  }

  /** The subject it arrived on. */
  get subject(): string {
    return this.#msg.subject;
  }

  /** How many times it has been delivered (1 the first time). */
  get deliveryCount(): number {
    return this.#msg.info.deliveryCount;
  }

  /**
   * Report through another logger from now on (e.g. one with the run's context).
   *
   * @param logger The logger.
   */
  useLogger(logger: Logger): void {
    this.#log = logger;
  }

  /** Send `in_progress` every interval until {@linkcode JobLease.release}. */
  keepAlive(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      try {
        this.#msg.working();
      } catch (err) {
        this.#log.warn("Cannot send in_progress ACK", { err_id: ErrId.inProgressFailed }, err);
      }
    }, this.#intervalMs);
  }

  /** Stop the keep-alive. */
  release(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * ACK (plain, not awaited: SPEC §10). A lost ACK only redelivers a job whose snapshot is
   * terminal by then, and a redelivery reads the snapshot first, so it is ACKed without running.
   */
  ack(): void {
    this.release();
    this.#answer(() => this.#msg.ack());
  }

  /**
   * NAK: redeliver, after `delayMs` when given.
   *
   * @param delayMs The redelivery delay in milliseconds, rounded to whole ms (a fractional
   * `PYOCO_NAK_DELAY_SEC` × 1000 may not be whole, and NATS takes the delay as integer ns).
   * @default {0}
   */
  nak(delayMs?: number): void {
    this.release();
    this.#answer(() =>
      delayMs === undefined ? this.#msg.nak() : this.#msg.nak(Math.round(delayMs))
    );
  }

  /** TERM: never redeliver. */
  term(): void {
    this.release();
    this.#answer(() => this.#msg.term());
  }

  #answer(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.warn("Cannot answer the message", {}, err);
    }
  }
}
