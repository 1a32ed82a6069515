/**
 * Pairs "submitted at" times with "terminal at" times into submit→terminal latencies, whichever
 * arrives first. Runtime-neutral (no NATS, no npm), so the BullMQ peer shares it.
 *
 * @module
 */

import { waitFor } from "./_stats.ts";

/** Pairs "submitted at" times with "terminal at" times, in whichever order they arrive. */
export class CompletionTracker {
  readonly #started = new Map<string, number>();
  readonly #early = new Map<string, number>();
  readonly #latencies: number[] = [];
  #failed = 0;
  #lastTerminalAt = 0;

  /**
   * Record that a run's submission started at `startMs` (`performance.now()`), once its id is
   * known (after the submit answered).
   *
   * @param runId The run id.
   * @param startMs When the submit began.
   */
  submitted(runId: string, startMs: number): void {
    const seen = this.#early.get(runId);
    if (seen !== undefined) {
      this.#early.delete(runId);
      this.#latencies.push(seen - startMs);
      return;
    }
    this.#started.set(runId, startMs);
  }

  /**
   * Record that a run reached a terminal state.
   *
   * @param runId The run id.
   * @param ok Whether it completed (not failed or cancelled).
   * @param at When it was observed (`performance.now()`).
   */
  terminal(runId: string, ok: boolean, at: number): void {
    this.#lastTerminalAt = at;
    if (!ok) this.#failed++;
    const start = this.#started.get(runId);
    if (start === undefined) {
      this.#early.set(runId, at);
      return;
    }
    this.#started.delete(runId);
    this.#latencies.push(at - start);
  }

  /** Terminal runs seen (of those submitted). */
  get done(): number {
    return this.#latencies.length;
  }

  /** Runs that ended FAILED or CANCELLED. */
  get failed(): number {
    return this.#failed;
  }

  /** `performance.now()` of the last terminal state observed. */
  get lastTerminalAt(): number {
    return this.#lastTerminalAt;
  }

  /** Submit→terminal latencies in ms so far. */
  get latencies(): readonly number[] {
    return this.#latencies;
  }

  /**
   * Wait until `count` submitted runs are terminal.
   *
   * @param count How many.
   * @param timeoutMs Deadline.
   * @returns When they are.
   * @throws {Error} When the deadline passes first.
   */
  async waitDone(count: number, timeoutMs = 300_000): Promise<void> {
    await waitFor(
      () => this.done >= count,
      `${count} terminal runs (have ${this.done})`,
      timeoutMs,
      5,
    );
  }

  /** Forget everything seen so far (after a warm-up). */
  reset(): void {
    this.#started.clear();
    this.#early.clear();
    this.#latencies.length = 0;
    this.#failed = 0;
  }
}
