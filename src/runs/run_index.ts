/**
 * The in-memory index of run summaries behind `GET /runs` and `pyoco_runs_total`.
 *
 * Why an index and not a bucket scan: reading every snapshot of the runs bucket on each list
 * request costs one KV read per run (seconds at 100k runs). Instead the gateway keeps every
 * run's summary current with one KV watch on the runs bucket (initial last values, then every
 * update and delete). Entries carry their KV revision, so a late or replayed update never
 * replaces a newer one; the gateway also upserts the runs it creates itself, so a submit is
 * visible to the next list at once (read-your-writes). On every NATS reconnect the watch is
 * re-opened from the last values (deletes come back as markers), which repairs anything missed
 * while disconnected.
 *
 * Bounded (SPEC §10, §11): the summaries live in a {@linkcode RunTable} (typed-array columns,
 * interned strings: ~0.2 KiB per run with its id and list entries, where objects cost
 * ~1.1 KiB). For lists, every run sits in a few {@linkcode RunLists} lists ordered by
 * `(updated_at, run_id)`, one per *(tenant, status, filter value)*: one for all its runs, one per
 * filter of {@linkcode RUN_INDEX_FILTERS} (flow, tag, schedule, workflow hash) it has a value
 * for. A list request merges, newest first, the lists of its tenant(s) and status(es) for the
 * most selective filter it names, and checks the other filters on the way: a page costs
 * O(page × lists merged), whatever the number of runs. A KV-watch message moves the run between
 * lists in O(log n + chunk) wherever its new `updated_at` lands, and moves its entry in the
 * revision list (below) by at most a few thousand entries near the end or leaves a tombstone
 * compacted later: never a walk over all runs. The initial load only fills the table; the lists
 * are built once, sorted, when the load is complete.
 *
 * Change feed and delta listing **[beyond]**: listeners registered with
 * {@linkcode RunIndex.onChange} hear every newer revision the index applies (one KV watch per
 * gateway, however many `GET /runs/watch` clients there are). The index also keeps the runs in
 * KV-revision order (revisions are monotonic per bucket), one entry per run at its latest
 * revision. {@linkcode RunIndex.listDelta} finds its start by binary search and scans forward, so
 * a page costs O(log n + scanned), bounded by `maxScan`, whatever the number of stored runs. It
 * only returns revisions up to the watch's *watermark* (the last revision the in-order KV watch
 * delivered): a revision the gateway upserted itself is held back until the watch has delivered
 * every revision before it, so a cursor never moves past a write the index has not seen yet.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Status } from "@nats-io/nats-core";
import type { RunSnapshot, RunStatus } from "../contract/wire.ts";
import { RUN_STATUSES } from "../contract/wire.ts";
import { runMatchesKey } from "./run_keys.ts";
import type { Logger } from "../log.ts";
import { OrderedSlots } from "./ordered_slots.ts";
import {
  C_TENANT,
  C_WORKER,
  decodeRecord,
  type IndexedRun,
  RUN_INDEX_FILTERS,
  type RunFilterValues,
  type RunIndexFilter,
  type RunRecord,
  RunTable,
  summarize,
  toSummary,
} from "./run_table.ts";
import { type RunDeltaPage, type RunDeltaQuery, type RunListQuery, RunLists } from "./run_lists.ts";
import { openRunWatch, type RunWatch } from "./run_watch.ts";
import { RunTally, type TenantTally } from "./run_tally.ts";

export { RUN_INDEX_FILTERS, summarize, toSummary };
export type {
  IndexedRun,
  RunDeltaPage,
  RunDeltaQuery,
  RunFilterValues,
  RunIndexFilter,
  TenantTally,
};

/** Filter of {@linkcode RunIndex.list}. */
export type RunIndexQuery = RunListQuery;

/** A change heard by {@linkcode RunIndex.onChange} listeners. */
export type RunChange =
  | { type: "put"; run: IndexedRun }
  | { type: "delete"; run: IndexedRun; revision: number };

/**
 * Clocks of the writers (gateway, workers) are assumed to agree within this many seconds when
 * `updated_after` is turned into a start position.
 */
export const UPDATED_AT_SKEW_SEC = 60;

/** Options of {@linkcode RunIndex}. */
export interface RunIndexOptions {
  /** Where watch problems are logged. */
  logger?: Logger;
  /**
   * The connection behind `kv`: the watch is re-opened on every `reconnect`.
   *
   * A nats.js handle, left out of the published docs.
   * @ignore
   */
  connection?: { status(): AsyncIterable<Status> };
  /** Delay between attempts to re-open a broken watch. @default {500} */
  retryMs?: number;
  /**
   * The run id and tenant of a runs-bucket key (`parseRunKey()`: `<tenant>.<run_id>` in
   * namespaced mode, tenant `null` in shared mode), `null` for a key that is no run's (skipped).
   * A snapshot whose body names another run, or (tenant given) another tenant, is skipped too.
   * @default {the key is the run id}
   */
  parseKey?: (key: string) => { runId: string; tenant: string | null } | null;
}

/** Run summaries kept current by a KV watch on the runs bucket. */
export class RunIndex {
  readonly #kv: KV;
  readonly #logger: Logger | undefined;
  readonly #connection: RunIndexOptions["connection"];
  readonly #retryMs: number;
  readonly #parseKey: (key: string) => { runId: string; tenant: string | null } | null;
  readonly #table = new RunTable();
  /** The runs in `(updated_at, run_id)` order per tenant, status and filter value. */
  readonly #lists = new RunLists(this.#table);
  /** Every run once, at its latest revision, in revision order. */
  readonly #revs = new OrderedSlots();
  /** Runs per status and per tenant, priority and status. */
  readonly #tally = new RunTally(this.#table);
  /** While the initial load runs, only the table and the revision list are filled. */
  #bulk = false;
  #watermark = 0;
  readonly #listeners = new Set<(change: RunChange) => void>();
  #ready = false;
  #readyWaiters: (() => void)[] = [];
  #closed = false;
  #watch: RunWatch | null = null;
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
    this.#parseKey = options.parseKey ?? ((key) => ({ runId: key, tenant: null }));
  }

  /** Whether the initial values have been loaded. */
  get ready(): boolean {
    return this.#ready;
  }

  /** How many runs are indexed. */
  get size(): number {
    return this.#table.size;
  }

  /**
   * Start the watch (once). It is re-opened in the background after errors and reconnects.
   *
   * @returns Immediately; use {@linkcode RunIndex.whenReady} to wait for the initial load.
   */
  start(): void {
    if (this.#closed) return;
    if (!this.#ready) this.#bulk = true;
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
    const record = decodeRecord(snapshot);
    if (record) this.#put(record, revision);
  }

  /**
   * Forget a run (e.g. after deleting an orphan snapshot).
   *
   * @param runId The run id.
   */
  remove(runId: string): void {
    const t = this.#table;
    const slot = t.slotOf.get(runId);
    if (slot === undefined) return;
    if (!this.#bulk) this.#lists.move(slot, null);
    this.#revs.remove(t.rev[slot]!, slot);
    this.#tally.add(slot, -1);
    t.free(slot);
    if (t.freed > 1024 && t.freed * 2 > t.length) this.#compactSlots();
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
    const revs = this.#revs;
    const t = this.#table;
    const limit = Math.max(0, query.limit);
    const maxScan = Math.max(1, query.maxScan ?? 10_000);
    const watermark = this.#watermark;
    const updatedAfter = query.updatedAfter ?? null;
    let start = revs.upperBound(query.afterRevision);
    if (query.afterRevision === 0 && updatedAfter !== null) {
      start = Math.max(start, this.#firstAfterTime(updatedAfter - UPDATED_AT_SKEW_SEC));
    }
    let next = query.afterRevision;
    if (start > 0) next = Math.max(next, Math.min(revs.keys[start - 1]!, watermark));
    const match = this.#matcher(query);
    const runs: IndexedRun[] = [];
    let scanned = 0;
    let i = start;
    while (i < revs.length && runs.length < limit && scanned < maxScan) {
      const rev = revs.keys[i]!;
      if (rev > watermark) break;
      const slot = revs.slots[i]!;
      scanned++;
      i++;
      next = rev;
      if (slot < 0 || match === null || !match(slot)) continue;
      if (updatedAfter !== null && !(t.at[slot]! > updatedAfter)) continue;
      runs.push(t.materialize(slot));
    }
    const hasMore = i < revs.length && revs.keys[i]! <= watermark;
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
    const slot = this.#table.slotOf.get(runId);
    return slot === undefined ? undefined : this.#table.materialize(slot);
  }

  /**
   * The newest runs matching a filter. Cost: O(limit × lists merged) plus the runs of the most
   * selective filter's lists that other filters reject, never a walk over every run.
   *
   * @param query Filters and limit.
   * @returns At most `limit` runs, newest `updated_at` first (ties: run_id descending).
   */
  list(query: RunIndexQuery): IndexedRun[] {
    if (this.#bulk) return this.#scanList(query);
    return this.#lists.list(query);
  }

  /**
   * A list while the initial load runs (the lists are built once it ends): a scan of the table,
   * O(runs). Routes wait for readiness; this serves in-process callers that do not.
   */
  #scanList(query: RunIndexQuery): IndexedRun[] {
    const t = this.#table;
    const limit = Math.max(0, query.limit);
    const match = this.#matcher(query);
    if (match === null || limit === 0) return [];
    const found: number[] = [];
    for (let slot = 0; slot < t.length; slot++) {
      if (t.status[slot] !== 0 && match(slot)) found.push(slot);
    }
    if (query.counter) query.counter.steps += t.length;
    found.sort((a, b) => t.at[b]! - t.at[a]! || t.compareIds(b, a));
    return found.slice(0, Math.min(limit, found.length)).map((slot) => t.materialize(slot));
  }

  /**
   * Runs per status (every status of the contract, zeros included).
   *
   * @returns Status → count.
   */
  counts(): Record<RunStatus, number> {
    const out = {} as Record<RunStatus, number>;
    RUN_STATUSES.forEach((s, i) => out[s] = this.#tally.ofStatus(i));
    return out;
  }

  /**
   * Runs per tenant and priority, by status (kept as runs change: reading costs O(tenants)).
   *
   * @returns One entry per tenant and priority that has runs.
   */
  countsByTenant(): TenantTally[] {
    return this.#tally.byTenant();
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

  /**
   * Ids of indexed runs that start with `prefix` (SPEC §15: a run id prefix of the CLI or
   * `GET /runs/{id}`). Cost: one pass over the indexed ids, so callers use it only when an exact
   * id was not found.
   *
   * @param prefix The start of the id.
   * @param options `limit` (stop after this many, default 10) and `tenantId` (only that tenant's
   *   runs; `undefined`: every run).
   * @returns Matching run ids, in no particular order.
   */
  idsWithPrefix(
    prefix: string,
    options: { limit?: number; tenantId?: string | null } = {},
  ): string[] {
    return this.#table.idsWithPrefix(prefix, options);
  }

  /** A test of one slot against a query's filters, or `null` when nothing can match. */
  #matcher(
    query: RunFilterValues & Pick<RunDeltaQuery, "statuses" | "tenantId">,
  ): ((slot: number) => boolean) | null {
    const t = this.#table;
    const filters = t.filterIds(query);
    if (filters === undefined) return null;
    const tenant = query.tenantId === undefined ? -1 : t.strings.idOf(query.tenantId);
    if (tenant === undefined) return null;
    const statuses = query.statuses ? new Set(t.statusCodes(query.statuses)) : null;
    return (slot) => {
      if (statuses !== null && !statuses.has(t.status[slot]! - 1)) return false;
      if (tenant >= 0 && t.col(slot, C_TENANT) !== tenant) return false;
      for (const f of filters) if (t.col(slot, f.column) !== f.id) return false;
      return true;
    };
  }

  #notify(change: RunChange): void {
    for (const fn of this.#listeners) {
      try {
        fn(change);
      } catch { /* a listener must not break the index */ }
    }
  }

  #put(record: RunRecord, revision: number): void {
    const t = this.#table;
    let slot = t.slotOf.get(record.runId);
    if (slot !== undefined && t.rev[slot]! >= revision) return;
    // A pyoco-server 0.4 worker writes worker_id only in its first snapshot (SPEC §16): keep it.
    if (slot !== undefined && record.strings[C_WORKER] === null && record.status !== "PENDING") {
      record.strings[C_WORKER] = t.workerOf(slot);
    }
    const status = t.statusCode(record.status, true);
    if (status === undefined) {
      this.#logger?.warn("Skipping a run with one status too many", { run_id: record.runId });
      return;
    }
    const ids = t.intern(record);
    if (slot === undefined) {
      slot = t.alloc(record.runId);
    } else {
      this.#tally.add(slot, -1);
      this.#revs.remove(t.rev[slot]!, slot);
    }
    if (!this.#bulk) this.#lists.move(slot, { ids, status, at: record.updatedAt });
    t.store(slot, record, { ids, status, revision });
    this.#tally.add(slot, 1);
    this.#revs.insert(revision, slot);
  }

  /** Build the lists once the initial load is complete. */
  #buildLists(): void {
    this.#bulk = false;
    this.#lists.build();
  }

  /** Renumber the slots once half of them are freed (the lists follow). */
  #compactSlots(): void {
    const map = this.#table.compact();
    const remap = (slot: number) => map[slot]!;
    this.#revs.rewrite(remap);
    this.#lists.rewrite(remap);
  }

  /** Position of the first revision entry whose run's `updated_at` is greater than `at`. */
  #firstAfterTime(at: number): number {
    // A stale run's time can only be later than its entry's own: the search errs early (safe).
    const revs = this.#revs;
    const times = this.#table.at;
    let lo = 0;
    let hi = revs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = revs.slots[mid]!;
      if (times[s < 0 ? ~s : s]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #markReady(): void {
    if (this.#ready) return;
    if (this.#bulk) this.#buildLists();
    this.#ready = true;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w();
  }

  #apply(entry: KvWatchEntry): void {
    const t = this.#table;
    // A re-opened watch replays what it already delivered: only newer revisions are news.
    const news = entry.revision > this.#watermark;
    const listening = news && this.#listeners.size > 0;
    const deleted = entry.operation !== "PUT" || entry.length === 0;
    const parsed = this.#parseKey(entry.key);
    if (parsed === null) {
      if (news) this.#watermark = entry.revision;
      return;
    }
    const { runId } = parsed;
    const old = t.slotOf.get(runId);
    const before = listening && deleted && old !== undefined ? t.materialize(old) : undefined;
    this.#apply1(entry, { runId, tenant: parsed.tenant, deleted });
    if (!news) return;
    this.#watermark = entry.revision;
    if (!listening) return;
    if (!deleted) {
      const slot = t.slotOf.get(runId);
      if (slot !== undefined && t.rev[slot] === entry.revision) {
        this.#notify({ type: "put", run: t.materialize(slot) });
      }
    } else if (before) {
      this.#notify({ type: "delete", run: before, revision: entry.revision });
    }
  }

  #apply1(
    entry: KvWatchEntry,
    at: { runId: string; tenant: string | null; deleted: boolean },
  ): void {
    const { runId } = at;
    const t = this.#table;
    if (at.deleted) {
      const slot = t.slotOf.get(runId);
      if (slot === undefined || t.rev[slot]! > entry.revision) return;
      // Namespaced: only the key's own tenant's row (another tenant may hold a run of that id).
      const row = { run_id: runId, tenant_id: t.strings.value(t.col(slot, C_TENANT)) };
      if (runMatchesKey(at, row)) this.remove(runId);
      return;
    }
    let snapshot: Partial<RunSnapshot> | null;
    try {
      snapshot = entry.json<Partial<RunSnapshot> | null>();
    } catch (err) {
      this.#logger?.warn("Skipping a run snapshot that is not JSON", { run_id: runId }, err);
      return;
    }
    if (snapshot === null || typeof snapshot !== "object") {
      this.#logger?.warn("Skipping a run snapshot that is not an object", { run_id: runId });
      return;
    }
    snapshot.run_id ??= runId;
    if (!runMatchesKey(at, snapshot)) {
      this.#logger?.warn("Skipping a run snapshot whose run or tenant is not its key's", {
        key: entry.key,
      });
      return;
    }
    const record = decodeRecord(snapshot);
    if (record) this.#put(record, entry.revision);
  }

  async #watchLoop(): Promise<void> {
    while (!this.#closed) {
      let fallback: ReturnType<typeof setTimeout> | undefined;
      try {
        let received = false;
        const watch = await openRunWatch(this.#kv, (entry) => {
          received = true;
          try {
            this.#apply(entry);
          } catch (err) {
            this.#logger?.warn("Run index could not apply a change", { run_id: entry.key }, err);
          }
          if (entry.delta === 0 || entry.isUpdate) this.#markReady();
        });
        this.#watch = watch;
        if (this.#closed) watch.stop();
        if (watch.emptyAtStart) this.#markReady();
        // The bucket was not empty but the watch delivers nothing: ready once the bucket is seen
        // empty (purged meanwhile) — not merely because the first entry is slow to come (a
        // busy server with a million stored runs), which would end the bulk load early.
        const check = () => {
          fallback = setTimeout(async () => {
            if (received || this.#ready || this.#closed) return;
            const values = await this.#kv.status().then((s) => s.values, () => -1);
            if (values === 0 && !received) this.#markReady();
            else check();
          }, 3000);
        };
        check();
        await watch.closed;
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
