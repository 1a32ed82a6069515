/**
 * The scheduler of one gateway: a loop that wakes at the next due slot (sleeping at most 1 s,
 * and at once when a schedule changes: a KV watch keeps every record in memory) and dispatches
 * due slots of every schedule. Any number of gateways run it at the same time; each slot runs
 * exactly once (`docs/schedules.md` has the whole argument):
 *
 * 1. **Decide** (compare-and-set on the record): a pass reads the record, plans the due slots
 *    (`planDue`: catch-up window) and the overlap policy, and writes the new cursor
 *    `next_run_at`, the skipped count and the slots to run (the *outbox*) in one CAS. Only the
 *    winner of the CAS decided those slots; a loser re-reads next pass and finds them decided.
 * 2. **Claim** (KV create of `sched.<schedule_id>.<slot>`): whoever creates the key submits the
 *    slot. An outbox entry is worked on by the gateway that decided it, or by any gateway once
 *    its lease ({@linkcode DEFAULT_LEASE_SEC}) passed (the decider died); a stale claim is taken
 *    over by compare-and-set on the claim's revision.
 * 3. **Submit** with a run id derived from the schedule id and the slot: if the run already
 *    exists (the previous owner submitted and died before recording it), it is not submitted
 *    again. Then the claim is marked `submitted` and the outbox entry removed (CAS).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { abortableSleep } from "../../contract/_util.ts";
import { ErrId } from "../../contract/errors.ts";
import type { RunSnapshot } from "../../contract/wire.ts";
import { nowSec } from "../../contract/wire.ts";
import { createJson, getJson, updateJson } from "../../nats/kv.ts";
import { NatsUnavailableError, RunStoreError } from "../errors.ts";
import { planDue } from "./rules.ts";
import {
  ended,
  recordRun,
  type ScheduleContext,
  scheduledRunKey,
  slotRunId,
  submitScheduledRun,
} from "./service.ts";
import { scheduleKey, slotKey } from "./store.ts";
import type { OutboxEntry, ScheduleRecord } from "./types.ts";

/** How long a decided or claimed slot belongs to its gateway before another may take it over. */
export const DEFAULT_LEASE_SEC = 30;

/** Longest sleep of the loop, in milliseconds. */
export const MAX_SLEEP_MS = 1000;

/** Slot claims older than this (seconds) are purged by the janitor. */
export const CLAIM_KEEP_SEC = 3600;

const _DISPATCHED = "pyoco_schedule_slots_dispatched_total";
const _DISPATCHED_HELP = "Schedule slots submitted as runs by this gateway.";
const _SKIPPED = "pyoco_schedule_slots_skipped_total";
const _SKIPPED_HELP = "Schedule slots skipped by this gateway (missed beyond the catch-up " +
  "window, or held back by the overlap policy).";
const _LATE = "pyoco_schedule_late_seconds_total";
const _LATE_HELP = "Sum of how late (seconds after their slot) this gateway submitted " +
  "scheduled runs; divided by pyoco_schedule_slots_dispatched_total it is the mean lateness.";

/** The value at `sched.<schedule_id>.<slot>`. */
export interface SlotClaim {
  /** The slot. */
  slot: number;
  /** The run id of the slot. */
  run_id: string;
  /** Gateway working on it. */
  owner: string;
  /** When it claimed it (unix seconds). */
  claimed_at: number;
  /** `claimed` while being submitted; `submitted` or `failed` when done. */
  state: "claimed" | "submitted" | "failed";
  /** Why it failed. */
  error?: string;
}

/** The clock of the scheduler (injectable: tests move time without waiting). */
export interface Clock {
  /** Current unix time in seconds. */
  now(): number;
}

/** Where counters go (the gateway's `HttpMetrics.count`). */
export interface CounterSink {
  /** Add to a counter. */
  count(name: string, options: { help: string; by?: number }): void;
}

/** Options of {@linkcode ScheduleDispatcher}. */
export interface ScheduleDispatcherOptions {
  /** The clock. @default {the system clock} */
  clock?: Clock;
  /** This gateway's id in claims and outbox entries. @default {a random UUID} */
  gatewayId?: string;
  /** Lease of a decided or claimed slot, seconds. @default {DEFAULT_LEASE_SEC} */
  leaseSec?: number;
  /** Counters for `/metrics`. */
  metrics?: CounterSink;
}

/** Dispatches due schedule slots; see the module doc. */
export class ScheduleDispatcher {
  readonly #ctx: ScheduleContext;
  readonly #kv: KV;
  readonly #clock: Clock;
  readonly #me: string;
  readonly #leaseSec: number;
  readonly #metrics?: CounterSink;
  readonly #cache = new Map<string, ScheduleRecord>();
  readonly #inflight = new Set<string>();
  readonly #stop = new AbortController();
  #wake: (() => void) | null = null;
  #watching = false;
  #loop: Promise<void> | null = null;
  #lastJanitor = 0;

  /**
   * Make a dispatcher (nothing runs until {@linkcode ScheduleDispatcher.start}; tests may call
   * {@linkcode ScheduleDispatcher.tick} themselves).
   *
   * @param ctx Store, backend, config, logger.
   * @param options Clock, gateway id, lease, metrics.
   * @throws {RangeError} When `leaseSec` is not positive.
   */
  constructor(ctx: ScheduleContext, options: ScheduleDispatcherOptions = {}) {
    this.#ctx = ctx;
    this.#kv = ctx.store.kv;
    this.#clock = options.clock ?? { now: nowSec };
    this.#me = options.gatewayId ?? crypto.randomUUID();
    this.#leaseSec = options.leaseSec ?? DEFAULT_LEASE_SEC;
    if (!(this.#leaseSec > 0)) throw new RangeError("leaseSec must be positive");
    this.#metrics = options.metrics;
    // The counters show from the start, at zero.
    this.#metrics?.count(_DISPATCHED, { help: _DISPATCHED_HELP, by: 0 });
    this.#metrics?.count(_SKIPPED, { help: _SKIPPED_HELP, by: 0 });
    this.#metrics?.count(_LATE, { help: _LATE_HELP, by: 0 });
  }

  /** This gateway's id in claims. */
  get gatewayId(): string {
    return this.#me;
  }

  /** Start the watch and the loop. */
  start(): void {
    if (this.#loop !== null) return;
    this.#watching = true;
    void this.#watchLoop();
    this.#loop = this.#runLoop();
  }

  /** Stop the loop (a pass in progress finishes its current slot). */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop?.catch(() => {});
  }

  async #runLoop(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      let sleepMs = MAX_SLEEP_MS;
      try {
        sleepMs = await this.tick();
      } catch (err) {
        this.#ctx.logger.warn("Schedule pass failed; retrying", {
          err_id: ErrId.scheduleDispatchFailed,
        }, err);
      }
      if (signal.aborted) return;
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      await Promise.race([woken, abortableSleep(sleepMs, signal).catch(() => {})]);
      this.#wake = null;
    }
  }

  async #watchLoop(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const it = await this.#kv.watch({ key: "schedule.*" });
        // The watch starts with every current record: forget what a lost watch left behind.
        this.#cache.clear();
        this.#stop.signal.addEventListener("abort", () => it.stop(), { once: true });
        for await (const e of it) {
          const id = e.key.slice("schedule.".length);
          if (e.operation === "PUT" && e.length > 0) {
            this.#cache.set(id, e.json<ScheduleRecord>());
          } else {
            this.#cache.delete(id);
          }
          this.#wake?.();
        }
      } catch (err) {
        if (this.#stop.signal.aborted) return;
        this.#ctx.logger.warn("Schedule watch ended; restarting", {}, err);
      }
      await abortableSleep(MAX_SLEEP_MS, this.#stop.signal).catch(() => {});
    }
  }

  /**
   * One pass: dispatch every schedule with due work.
   *
   * @returns Milliseconds until the next slot is due (at most {@linkcode MAX_SLEEP_MS}).
   */
  async tick(): Promise<number> {
    const recs = this.#watching ? [...this.#cache.values()] : await this.#ctx.store.list();
    const now = this.#clock.now();
    for (const rec of recs) {
      if (this.#stop.signal.aborted) break;
      const active = !rec.paused && rec.status === "ACTIVE";
      const due = rec.outbox.length > 0 || (active && rec.buffered_slot !== null) ||
        (active && rec.next_run_at !== null && rec.next_run_at <= now);
      if (!due) continue;
      try {
        await this.#process(rec.schedule_id);
      } catch (err) {
        this.#ctx.logger.warn("Cannot dispatch a schedule; retrying next pass", {
          schedule_id: rec.schedule_id,
          err_id: ErrId.scheduleDispatchFailed,
        }, err);
      }
    }
    if (now - this.#lastJanitor > CLAIM_KEEP_SEC / 4) {
      this.#lastJanitor = now;
      await this.#janitor(recs, now).catch(() => {});
    }
    // Computed after the pass, from the records as the pass left them.
    const after = this.#clock.now();
    let nextDue = after + MAX_SLEEP_MS / 1000;
    for (const rec of this.#watching ? this.#cache.values() : recs) {
      if (!rec.paused && rec.status === "ACTIVE" && rec.next_run_at !== null) {
        nextDue = Math.min(nextDue, rec.next_run_at);
      }
    }
    return Math.max(0, Math.min(MAX_SLEEP_MS, (nextDue - after) * 1000));
  }

  async #process(id: string): Promise<void> {
    const found = await this.#ctx.store.find(id);
    if (found === null) return;
    const now = this.#clock.now();
    for (const e of found.rec.outbox) {
      if (e.owner === this.#me || now - e.decided_at >= this.#leaseSec) await this.#dispatch(id, e);
    }
    await this.#releaseBuffered(id);
    await this.#decide(id);
  }

  /** Whether the previous run holds new ones back (not terminal, or a slot not yet submitted). */
  async #busy(rec: ScheduleRecord): Promise<{ busy: boolean; status: string | null }> {
    if (rec.outbox.length > 0) return { busy: true, status: rec.last_status };
    if (rec.last_run_id === null) return { busy: false, status: null };
    const key = scheduledRunKey(this.#ctx.config, rec, rec.last_run_id);
    const snap = await getJson<RunSnapshot>(this.#ctx.backend.runs, key);
    if (snap === null) return { busy: false, status: rec.last_status };
    return { busy: !ended(snap.value.status), status: snap.value.status };
  }

  async #decide(id: string): Promise<void> {
    const found = await this.#ctx.store.find(id);
    if (found === null) return;
    const { rec, revision } = found;
    if (rec.paused || rec.status !== "ACTIVE") return;
    const now = this.#clock.now();
    const plan = planDue(rec, now);
    if (plan === null) return;
    let run = plan.run;
    let skipped = plan.skipped;
    let buffered = rec.buffered_slot;
    const { busy, status } = run.length > 0 && rec.overlap !== "allow"
      ? await this.#busy(rec)
      : { busy: false, status: rec.last_status };
    if (busy && rec.overlap === "skip") {
      skipped += run.length;
      run = [];
    } else if (busy && rec.overlap === "buffer_one") {
      if (buffered === null) buffered = run.at(-1)!;
      skipped += buffered === run.at(-1) ? run.length - 1 : run.length;
      run = [];
    }
    const entries: OutboxEntry[] = await Promise.all(run.map(async (slot) => ({
      slot,
      run_id: await slotRunId(id, slot),
      decided_at: now,
      owner: this.#me,
    })));
    const next: ScheduleRecord = {
      ...rec,
      next_run_at: plan.next,
      skipped_slots: rec.skipped_slots + skipped,
      buffered_slot: buffered,
      outbox: [...rec.outbox, ...entries],
      last_status: status,
      status: plan.next === null && buffered === null ? "COMPLETED" : "ACTIVE",
      updated_at: now,
    };
    const written = await updateJson(this.#kv, scheduleKey(id), next, revision);
    if (written === null) return; // another gateway decided these slots
    this.#cache.set(id, next);
    if (skipped > 0) {
      this.#metrics?.count(_SKIPPED, { help: _SKIPPED_HELP, by: skipped });
      this.#ctx.logger.info("Schedule slots skipped", {
        schedule_id: id,
        skipped,
        overlap: rec.overlap,
      });
    }
    for (const e of entries) await this.#dispatch(id, e);
  }

  async #releaseBuffered(id: string): Promise<void> {
    const found = await this.#ctx.store.find(id);
    if (found === null) return;
    const { rec, revision } = found;
    if (rec.buffered_slot === null || rec.paused) return;
    if ((await this.#busy(rec)).busy) return;
    const now = this.#clock.now();
    const entry: OutboxEntry = {
      slot: rec.buffered_slot,
      run_id: await slotRunId(id, rec.buffered_slot),
      decided_at: now,
      owner: this.#me,
    };
    const next: ScheduleRecord = {
      ...rec,
      buffered_slot: null,
      outbox: [...rec.outbox, entry],
      status: rec.next_run_at === null ? "COMPLETED" : "ACTIVE",
      updated_at: now,
    };
    if (await updateJson(this.#kv, scheduleKey(id), next, revision) === null) return;
    await this.#dispatch(id, entry);
  }

  /** Claim, submit and record one decided slot (see the module doc). */
  async #dispatch(id: string, e: OutboxEntry): Promise<void> {
    const key = slotKey(id, e.slot);
    if (this.#inflight.has(key)) return;
    this.#inflight.add(key);
    try {
      const claim = await this.#claim(key, e);
      if (claim === null) return;
      if (claim.state !== "claimed") return await this.#finish(id, e, claim);
      const found = await this.#ctx.store.find(id);
      if (found === null || !found.rec.outbox.some((o) => o.slot === e.slot)) return;
      let done: SlotClaim = { ...claim, state: "submitted" };
      const runKey = scheduledRunKey(this.#ctx.config, found.rec, e.run_id);
      if (await getJson(this.#ctx.backend.runs, runKey) === null) {
        try {
          await submitScheduledRun(this.#ctx, found.rec, { runId: e.run_id, scheduledFor: e.slot });
        } catch (err) {
          if (err instanceof NatsUnavailableError || !(err instanceof RunStoreError)) throw err;
          done = { ...claim, state: "failed", error: err.message };
        }
      }
      const rev = await getJson<SlotClaim>(this.#kv, key);
      if (rev !== null) await updateJson(this.#kv, key, done, rev.revision).catch(() => null);
      await this.#finish(id, e, done);
    } catch (err) {
      this.#ctx.logger.warn("Cannot submit a schedule slot; retrying", {
        schedule_id: id,
        run_id: e.run_id,
        scheduled_for: e.slot,
        err_id: ErrId.scheduleDispatchFailed,
      }, err);
    } finally {
      this.#inflight.delete(key);
    }
  }

  /** The claim to work on: created now, taken over, or a finished one; `null`: not ours. */
  async #claim(key: string, e: OutboxEntry): Promise<SlotClaim | null> {
    const now = this.#clock.now();
    const mine: SlotClaim = {
      slot: e.slot,
      run_id: e.run_id,
      owner: this.#me,
      claimed_at: now,
      state: "claimed",
    };
    if (await createJson(this.#kv, key, mine) !== null) return mine;
    const current = await getJson<SlotClaim>(this.#kv, key);
    if (current === null) return null;
    const c = current.value;
    if (c.state !== "claimed") return c;
    if (c.owner !== this.#me && now - c.claimed_at < this.#leaseSec) return null;
    return await updateJson(this.#kv, key, mine, current.revision) === null ? null : mine;
  }

  async #finish(id: string, e: OutboxEntry, claim: SlotClaim): Promise<void> {
    let recorded = false;
    await this.#ctx.store.update(id, (rec) => {
      if (!rec.outbox.some((o) => o.slot === e.slot)) return null;
      recorded = true;
      rec.outbox = rec.outbox.filter((o) => o.slot !== e.slot);
      if (claim.state === "submitted") {
        recordRun(rec, { run_id: e.run_id, scheduled_for: e.slot, submitted_at: nowSec() });
      } else {
        rec.last_status = "SUBMIT_FAILED";
        rec.last_error = claim.error ?? "the run was refused";
      }
      if (rec.next_run_at === null && rec.buffered_slot === null) rec.status = "COMPLETED";
      rec.updated_at = this.#clock.now();
      return rec;
    }).catch((err) => {
      if (err instanceof RunStoreError && err.errId === ErrId.scheduleNotFound) return;
      throw err;
    });
    if (!recorded || claim.state !== "submitted") return;
    const late = this.#clock.now() - e.slot;
    this.#metrics?.count(_DISPATCHED, { help: _DISPATCHED_HELP });
    this.#metrics?.count(_LATE, { help: _LATE_HELP, by: Math.max(0, late) });
    this.#ctx.logger.info("Schedule slot dispatched", {
      schedule_id: id,
      run_id: e.run_id,
      scheduled_for: e.slot,
      late_sec: Math.round(late * 1000) / 1000,
    });
  }

  /** Purge slot claims older than {@linkcode CLAIM_KEEP_SEC} that no outbox needs. */
  async #janitor(recs: ScheduleRecord[], now: number): Promise<void> {
    for (const rec of recs) {
      const keys: string[] = [];
      for await (const k of await this.#kv.keys(`sched.${rec.schedule_id}.*`)) keys.push(k);
      const pending = new Set(rec.outbox.map((o) => o.slot));
      for (const k of keys) {
        const slot = Number(k.slice(k.lastIndexOf(".") + 1));
        // A catch-up may still decide a slot as old as its window: keep those claims longer.
        const oldest = now - CLAIM_KEEP_SEC - rec.catchup_window_sec;
        if (slot < oldest && !pending.has(slot)) await this.#kv.purge(k);
      }
    }
    // The purge markers themselves go too (the nats.js bucket has it; the KV interface does not).
    const bucket = this.#kv as KV & { purgeDeletes?: (olderMillis: number) => Promise<unknown> };
    await bucket.purgeDeletes?.(CLAIM_KEEP_SEC * 1000);
  }
}
