/**
 * The in-memory index of run summaries behind `GET /runs` and `pyoco_runs_total`.
 *
 * Why an index and not a bucket scan: reading every snapshot of the runs bucket on each list
 * request costs one KV read per run (seconds at 100k runs). Instead the gateway keeps a
 * `Map<run_id, summary>` current with one KV watch on the runs bucket (initial last values, then
 * every update and delete), plus the runs in `(updated_at, run_id)` order (an array that grows at
 * its end, since updates arrive roughly in time order, with lazy deletion): a list walks it from
 * the newest end and stops after `limit` matches, so an unfiltered page costs O(limit) whatever
 * the number of stored runs, and `include=full` reads only the runs it returns. Memory is a few hundred
 * bytes per run. Entries carry their KV revision, so a late or replayed update never replaces a
 * newer one; the gateway also upserts the runs it creates itself, so a submit is visible to the
 * next list at once (read-your-writes). On every NATS reconnect the watch is re-opened from the
 * last values (deletes come back as markers), which repairs anything missed while disconnected.
 *
 * Change feed and delta listing **[beyond]**: listeners registered with
 * {@linkcode RunIndex.onChange} hear every newer revision the index applies (one KV watch per
 * gateway, however many `GET /runs/watch` clients there are). The index also keeps the runs in
 * KV-revision order (revisions are monotonic per bucket): an array of `(revision, run_id)`
 * appended as revisions arrive, with lazy deletion (an entry whose run has a newer revision, or
 * was deleted, is skipped) and an occasional compaction. {@linkcode RunIndex.listDelta} finds
 * its start by binary search and scans forward, so a page costs O(log n + scanned), bounded by
 * `maxScan`, whatever the number of stored runs. It only returns revisions up to the watch's
 * *watermark* (the last revision the in-order KV watch delivered): a revision the gateway
 * upserted itself is held back until the watch has delivered every revision before it, so a
 * cursor never moves past a write the index has not seen yet.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator, Status } from "@nats-io/nats-core";
import type { RunSnapshot, RunStatus, RunSummary } from "../contract/wire.ts";
import { RUN_STATUSES } from "../contract/wire.ts";
import type { Logger } from "../log.ts";

/** A summary as the index keeps it: the wire summary plus tenant and revision. */
export interface IndexedRun extends RunSummary {
  /** Tenant of the run (`null` without auth). */
  tenant_id: string | null;
  /** KV revision the summary was read at. */
  revision: number;
}

/** Filter of {@linkcode RunIndex.list}. */
export interface RunIndexQuery {
  /** Only these statuses (none: every status). */
  statuses?: ReadonlySet<string> | null;
  /** Only this flow name. */
  flow?: string | null;
  /** Only runs queued on this tag (`tag`; secondary `tags` do not match, as pyoco-server). */
  tag?: string | null;
  /** Only this tenant; `undefined` means every tenant. */
  tenantId?: string | null;
  /** At most this many, newest `updated_at` first. */
  limit: number;
}

/** Filter and position of {@linkcode RunIndex.listDelta}. */
export interface RunDeltaQuery {
  /** Only these statuses (none: every status). */
  statuses?: ReadonlySet<string> | null;
  /** Only this flow name. */
  flow?: string | null;
  /** Only runs queued on this tag (`tag`; secondary `tags` do not match, as pyoco-server). */
  tag?: string | null;
  /** Only this tenant; `undefined` means every tenant. */
  tenantId?: string | null;
  /** Start after this KV revision (exclusive). */
  afterRevision: number;
  /**
   * Only runs whose `updated_at` is greater than this (unix seconds). With `afterRevision` 0 the
   * scan also starts near the first run updated after it (found by binary search).
   */
  updatedAfter?: number | null;
  /** At most this many runs. */
  limit: number;
  /** Scan at most this many entries (bounds the cost of a page). @default {10000} */
  maxScan?: number;
}

/** One page of {@linkcode RunIndex.listDelta}. */
export interface RunDeltaPage {
  /** Matching runs, ascending KV revision. */
  runs: IndexedRun[];
  /** The revision to continue after (never smaller than the query's `afterRevision`). */
  nextRevision: number;
  /** Whether entries after `nextRevision` are already known (ask again at once). */
  hasMore: boolean;
  /** Entries looked at (for tests and benchmarks). */
  scanned: number;
}

/** A change heard by {@linkcode RunIndex.onChange} listeners. */
export type RunChange =
  | { type: "put"; run: IndexedRun }
  | { type: "delete"; run: IndexedRun; revision: number };

/**
 * Clocks of the writers (gateway, workers) are assumed to agree within this many seconds when
 * `updated_after` is turned into a start position.
 */
export const UPDATED_AT_SKEW_SEC = 60;

interface _OrderEntry {
  rev: number;
  id: string;
  at: number;
}

/** Options of {@linkcode RunIndex}. */
export interface RunIndexOptions {
  /** Where watch problems are logged. */
  logger?: Logger;
  /** The connection behind `kv`: the watch is re-opened on every `reconnect`. */
  connection?: { status(): AsyncIterable<Status> };
  /** Delay between attempts to re-open a broken watch. @default {500} */
  retryMs?: number;
}

/**
 * Make the index summary of a snapshot.
 *
 * @param snapshot A run snapshot.
 * @param revision Its KV revision.
 * @returns The summary, or `null` when the snapshot lacks `run_id` or `status`.
 */
export function summarize(snapshot: Partial<RunSnapshot>, revision: number): IndexedRun | null {
  if (typeof snapshot.run_id !== "string" || typeof snapshot.status !== "string") return null;
  const tag = typeof snapshot.tag === "string" ? snapshot.tag : null;
  const tags = Array.isArray(snapshot.tags)
    ? snapshot.tags.filter((t): t is string => typeof t === "string")
    : tag === null
    ? []
    : [tag];
  return {
    run_id: snapshot.run_id,
    flow_name: typeof snapshot.flow_name === "string" ? snapshot.flow_name : "",
    tag,
    tags,
    status: snapshot.status,
    updated_at: typeof snapshot.updated_at === "number" ? snapshot.updated_at : 0,
    heartbeat_at: typeof snapshot.heartbeat_at === "number" ? snapshot.heartbeat_at : 0,
    worker_id: typeof snapshot.worker_id === "string" ? snapshot.worker_id : null,
    error: typeof snapshot.error === "string" ? snapshot.error : null,
    tenant_id: typeof snapshot.tenant_id === "string" ? snapshot.tenant_id : null,
    revision,
  };
}

/**
 * The wire summary of an indexed run (without tenant and revision).
 *
 * @param run An indexed run.
 * @returns The `GET /runs` row.
 */
export function toSummary(run: IndexedRun): RunSummary {
  const { tenant_id: _t, revision: _r, ...summary } = run;
  return summary;
}

/** Whether `a` sorts after `b` in `(updated_at, run_id)` order (newer, ties by run_id). */
function _entryNewer(a: _OrderEntry, b: _OrderEntry): boolean {
  if (a.at !== b.at) return a.at > b.at;
  return a.id > b.id;
}

/** Run summaries kept current by a KV watch on the runs bucket. */
export class RunIndex {
  readonly #kv: KV;
  readonly #logger: Logger | undefined;
  readonly #connection: RunIndexOptions["connection"];
  readonly #retryMs: number;
  readonly #runs = new Map<string, IndexedRun>();
  readonly #counts = new Map<string, number>();
  readonly #order: _OrderEntry[] = [];
  /** Live and stale entries in `(at, id)` order; an entry is live while its run has `rev`. */
  readonly #byTime: _OrderEntry[] = [];
  #stale = 0;
  #watermark = 0;
  readonly #listeners = new Set<(change: RunChange) => void>();
  #ready = false;
  #readyWaiters: (() => void)[] = [];
  #closed = false;
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  #loop: Promise<void> = Promise.resolve();
  #statusLoop: Promise<void> = Promise.resolve();
  #statusIter: AsyncIterable<Status> | null = null;
  #wake: (() => void) | null = null;

  /**
   * Make an index over a runs bucket (call {@linkcode RunIndex.start} to fill it).
   *
   * @param kv The runs bucket.
   * @param options Logger, connection and retry delay.
   */
  constructor(kv: KV, options: RunIndexOptions = {}) {
    this.#kv = kv;
    this.#logger = options.logger;
    this.#connection = options.connection;
    this.#retryMs = options.retryMs ?? 500;
  }

  /** Whether the initial values have been loaded. */
  get ready(): boolean {
    return this.#ready;
  }

  /** How many runs are indexed. */
  get size(): number {
    return this.#runs.size;
  }

  /**
   * Start the watch (once). It is re-opened in the background after errors and reconnects.
   *
   * @returns Immediately; use {@linkcode RunIndex.whenReady} to wait for the initial load.
   */
  start(): void {
    if (this.#closed) return;
    this.#loop = this.#watchLoop();
    if (this.#connection) {
      const it = this.#connection.status();
      this.#statusIter = it;
      this.#statusLoop = (async () => {
        for await (const s of it) {
          if (this.#closed) break;
          if (s.type === "reconnect") this.#watch?.stop();
        }
      })().catch(() => {});
    }
  }

  /**
   * Wait until the initial values are loaded.
   *
   * @param timeoutMs Give up after this long.
   * @returns Whether the index is ready.
   */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.#ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(this.#ready);
      };
      const timer = setTimeout(() => {
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== done);
        resolve(this.#ready);
      }, timeoutMs);
      this.#readyWaiters.push(done);
    });
  }

  /**
   * Record a snapshot the caller wrote (or read), unless the index holds a newer revision.
   *
   * @param snapshot The snapshot.
   * @param revision Its KV revision.
   */
  upsert(snapshot: Partial<RunSnapshot>, revision: number): void {
    const run = summarize(snapshot, revision);
    if (run) this.#put(run);
  }

  /**
   * Forget a run (e.g. after deleting an orphan snapshot).
   *
   * @param runId The run id.
   */
  remove(runId: string): void {
    const old = this.#runs.get(runId);
    if (!old) return;
    this.#runs.delete(runId);
    this.#count(old.status, -1);
    this.#stale++;
  }

  /**
   * Be told of every change in the runs bucket, once per KV revision and in revision order, as
   * the watch delivers it (a write the gateway upserted itself is told when the watch brings
   * it). Called synchronously; exceptions are ignored.
   *
   * @param fn The listener.
   * @returns A function that removes the listener.
   */
  onChange(fn: (change: RunChange) => void): () => void {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  }

  /** The last revision the KV watch delivered: every earlier write is reflected. */
  get watermark(): number {
    return this.#watermark;
  }

  /**
   * Runs updated after a revision, in KV-revision order (the delta listing of `GET /runs`).
   *
   * A run appears at the position of its latest revision only, so across pages every run
   * updated after the start appears once; a run updated again after it was paged appears again
   * later (a new update). Cost: a binary search plus at most `maxScan` entries.
   *
   * @param query Filters, start position and limit.
   * @returns The page, the revision to continue after and whether more is known.
   */
  listDelta(query: RunDeltaQuery): RunDeltaPage {
    const order = this.#order;
    const limit = Math.max(0, query.limit);
    const maxScan = Math.max(1, query.maxScan ?? 10_000);
    const watermark = this.#watermark;
    const updatedAfter = query.updatedAfter ?? null;
    let start = this.#firstAfterRevision(query.afterRevision);
    if (query.afterRevision === 0 && updatedAfter !== null) {
      start = Math.max(start, this.#firstAfterTime(updatedAfter - UPDATED_AT_SKEW_SEC));
    }
    let next = query.afterRevision;
    if (start > 0) next = Math.max(next, Math.min(order[start - 1]!.rev, watermark));
    const runs: IndexedRun[] = [];
    let scanned = 0;
    let i = start;
    while (i < order.length && runs.length < limit && scanned < maxScan) {
      const e = order[i]!;
      if (e.rev > watermark) break;
      scanned++;
      i++;
      next = e.rev;
      const run = this.#runs.get(e.id);
      if (!run || run.revision !== e.rev) continue;
      if (query.statuses && !query.statuses.has(run.status)) continue;
      if (query.flow != null && run.flow_name !== query.flow) continue;
      if (query.tag != null && run.tag !== query.tag) continue;
      if (query.tenantId !== undefined && run.tenant_id !== query.tenantId) continue;
      if (updatedAfter !== null && !(run.updated_at > updatedAfter)) continue;
      runs.push(run);
    }
    const hasMore = i < order.length && order[i]!.rev <= watermark;
    // Everything up to the watermark has been seen: the cursor may move on to it.
    if (!hasMore) next = Math.max(next, watermark);
    return { runs, nextRevision: next, hasMore, scanned };
  }

  /**
   * Look up one run's summary.
   *
   * @param runId The run id.
   * @returns The summary, or `undefined`.
   */
  get(runId: string): IndexedRun | undefined {
    return this.#runs.get(runId);
  }

  /**
   * The newest runs matching a filter.
   *
   * @param query Filters and limit.
   * @returns At most `limit` runs, newest `updated_at` first (ties: run_id descending).
   */
  list(query: RunIndexQuery): IndexedRun[] {
    const limit = Math.max(0, query.limit);
    const top: IndexedRun[] = [];
    if (limit === 0) return top;
    const byTime = this.#byTime;
    for (let i = byTime.length - 1; i >= 0 && top.length < limit; i--) {
      const entry = byTime[i]!;
      const run = this.#runs.get(entry.id);
      if (run === undefined || run.revision !== entry.rev) continue; // stale entry
      if (query.statuses && !query.statuses.has(run.status)) continue;
      if (query.flow != null && run.flow_name !== query.flow) continue;
      if (query.tag != null && run.tag !== query.tag) continue;
      if (query.tenantId !== undefined && run.tenant_id !== query.tenantId) continue;
      top.push(run);
    }
    return top;
  }

  /**
   * Runs per status (every status of the contract, zeros included).
   *
   * @returns Status → count.
   */
  counts(): Record<RunStatus, number> {
    const out = {} as Record<RunStatus, number>;
    for (const s of RUN_STATUSES) out[s] = this.#counts.get(s) ?? 0;
    return out;
  }

  /**
   * Stop the watch.
   *
   * @returns When the background loops have ended.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watch?.stop();
    this.#wake?.();
    (this.#statusIter as { stop?: () => void } | null)?.stop?.();
    await Promise.allSettled([this.#loop, this.#statusLoop]);
  }

  #put(run: IndexedRun): void {
    const old = this.#runs.get(run.run_id);
    if (old && old.revision >= run.revision) return;
    // A pyoco-server 0.4 worker writes worker_id only in its first snapshot (SPEC §16): keep it.
    if (run.worker_id === null && old?.worker_id != null && run.status !== "PENDING") {
      run.worker_id = old.worker_id;
    }
    this.#runs.set(run.run_id, run);
    if (old) {
      this.#count(old.status, -1);
      this.#stale++;
    }
    this.#count(run.status, 1);
    const entry = { rev: run.revision, id: run.run_id, at: run.updated_at };
    this.#insertByTime(entry);
    this.#insertOrder(entry);
  }

  #insertByTime(entry: _OrderEntry): void {
    const byTime = this.#byTime;
    const last = byTime[byTime.length - 1];
    if (last === undefined || _entryNewer(entry, last)) {
      byTime.push(entry);
      return;
    }
    // Out of time order (clock skew, a late update): binary search, usually near the end.
    let lo = 0;
    let hi = byTime.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (_entryNewer(entry, byTime[mid]!)) lo = mid + 1;
      else hi = mid;
    }
    byTime.splice(lo, 0, entry);
  }

  #notify(change: RunChange): void {
    for (const fn of this.#listeners) {
      try {
        fn(change);
      } catch { /* a listener must not break the index */ }
    }
  }

  #insertOrder(entry: _OrderEntry): void {
    const order = this.#order;
    const last = order[order.length - 1];
    if (last === undefined || last.rev < entry.rev) {
      order.push(entry);
    } else {
      // Rare (an upsert ahead of the watch): insert in place, usually near the end.
      order.splice(this.#firstAfterRevision(entry.rev), 0, entry);
    }
    if (this.#stale > 1024 && this.#stale * 2 > order.length) this.#compact();
  }

  #compact(): void {
    for (const list of [this.#order, this.#byTime]) {
      const live = list.filter((e) => this.#runs.get(e.id)?.revision === e.rev);
      list.length = 0;
      for (const e of live) list.push(e);
    }
    this.#stale = 0;
  }

  /** Index of the first entry whose revision is greater than `rev`. */
  #firstAfterRevision(rev: number): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#order[mid]!.rev <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first entry whose `updated_at` is greater than `at` (times ~ revisions). */
  #firstAfterTime(at: number): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#order[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #count(status: string, delta: number): void {
    this.#counts.set(status, (this.#counts.get(status) ?? 0) + delta);
  }

  #markReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w();
  }

  #apply(entry: KvWatchEntry): void {
    const before = this.#runs.get(entry.key);
    this.#apply1(entry);
    // A re-opened watch replays what it already delivered: only newer revisions are news.
    if (entry.revision <= this.#watermark) return;
    this.#watermark = entry.revision;
    if (entry.operation === "PUT" && entry.length > 0) {
      const run = this.#runs.get(entry.key);
      if (run && run.revision === entry.revision) this.#notify({ type: "put", run });
    } else if (before) {
      this.#notify({ type: "delete", run: before, revision: entry.revision });
    }
  }

  #apply1(entry: KvWatchEntry): void {
    if (entry.operation !== "PUT" || entry.length === 0) {
      const old = this.#runs.get(entry.key);
      if (old && old.revision <= entry.revision) this.remove(entry.key);
      return;
    }
    let snapshot: Partial<RunSnapshot>;
    try {
      snapshot = entry.json<Partial<RunSnapshot>>();
    } catch (err) {
      this.#logger?.warn("Skipping a run snapshot that is not JSON", { run_id: entry.key }, err);
      return;
    }
    const run = summarize({ ...snapshot, run_id: snapshot.run_id ?? entry.key }, entry.revision);
    if (run) this.#put(run);
  }

  async #watchLoop(): Promise<void> {
    while (!this.#closed) {
      let fallback: ReturnType<typeof setTimeout> | undefined;
      try {
        const empty = (await this.#kv.status()).values === 0;
        const watch = await this.#kv.watch();
        this.#watch = watch;
        if (this.#closed) watch.stop();
        if (empty) this.#markReady();
        let received = false;
        // The bucket was not empty but the watch delivers nothing (purged meanwhile): ready.
        fallback = setTimeout(() => {
          if (!received) this.#markReady();
        }, 3000);
        for await (const entry of watch) {
          received = true;
          this.#apply(entry);
          if (entry.delta === 0 || entry.isUpdate) this.#markReady();
        }
      } catch (err) {
        if (!this.#closed) this.#logger?.warn("Run index watch failed; re-opening it", {}, err);
      } finally {
        clearTimeout(fallback);
        this.#watch = null;
      }
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#retryMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
  }
}
