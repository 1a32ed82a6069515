/**
 * The run index's per-filter lists: every run sits in one list per *(tenant, status, filter,
 * value)* it has — one for all its runs, one per filter of {@linkcode RUN_INDEX_FILTERS} it has a
 * value for — each ordered by `(updated_at, run_id)`. A list request merges, newest first, the
 * lists of its tenant(s) and status(es) for its most selective filter and checks the other
 * filters on the way, so a page walks the runs that match (O(page × lists merged)), not every
 * run. Moving a run between lists when it changes is O(log n + chunk), wherever it lands (see
 * {@linkcode ChunkedSlots}).
 *
 * @module
 */

import { ChunkedSlots } from "./chunked_slots.ts";
import {
  C_TENANT,
  FILTER_COLUMNS,
  FILTER_NAMES,
  type IndexedRun,
  type RunFilterValues,
  type RunTable,
} from "./run_table.ts";

/** Filter of {@linkcode RunLists.list} (and of `RunIndex.list`). */
export interface RunListQuery extends RunFilterValues {
  /** Only these statuses (none: every status). */
  statuses?: ReadonlySet<string> | null;
  /** Only this tenant; `undefined` means every tenant. */
  tenantId?: string | null;
  /** At most this many, newest `updated_at` first. */
  limit: number;
  /** Entries looked at are added to `steps` (for tests and benchmarks). */
  counter?: { steps: number };
}

/** Lists per run: one for all its runs (field 0), then one per filter (field f + 1). */
const _FIELDS = 1 + FILTER_NAMES.length;

/** Key of the list of (status, field, value) inside a tenant's map. */
function _listKey(status: number, field: number, value: number): number {
  return (value * 8 + field) * 256 + status;
}

/** Filter and position of `RunIndex.listDelta`. */
export interface RunDeltaQuery extends RunFilterValues {
  /** Only these statuses (none: every status). */
  statuses?: ReadonlySet<string> | null;
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

/** One page of `RunIndex.listDelta`. */
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

/** The ordered lists over a {@linkcode RunTable}; see the module documentation. */
export class RunLists {
  readonly #table: RunTable;
  /** Tenant id → list key → runs in `(updated_at, run_id)` order. */
  readonly #lists = new Map<number, Map<number, ChunkedSlots>>();
  readonly #tie: (a: number, b: number) => number;

  /**
   * Make empty lists over a table.
   *
   * @param table The runs.
   */
  constructor(table: RunTable) {
    this.#table = table;
    this.#tie = (a, b) => table.compareIds(a, b);
  }

  /**
   * The newest runs matching a filter. Cost: O(limit × lists merged) plus the runs of the most
   * selective filter's lists that other filters reject, never a walk over every run.
   *
   * @param query Filters and limit.
   * @returns At most `limit` runs, newest `updated_at` first (ties: run_id descending).
   */
  list(query: RunListQuery): IndexedRun[] {
    const limit = Math.max(0, query.limit);
    const top: IndexedRun[] = [];
    if (limit === 0) return top;
    const t = this.#table;
    const filters = t.filterIds(query);
    const tenants = this.#tenantMaps(query.tenantId);
    const statuses = t.statusCodes(query.statuses ?? null);
    if (filters === undefined || tenants.length === 0 || statuses.length === 0) return top;
    // The most selective filter names the lists to merge; the others are checked per run.
    let lists: ChunkedSlots[] = [];
    let size = Infinity;
    let field = 0;
    for (const f of filters.length > 0 ? filters : [{ field: 0, column: -1, id: 0 }]) {
      const found: ChunkedSlots[] = [];
      let n = 0;
      for (const m of tenants) {
        for (const s of statuses) {
          const list = m.get(_listKey(s, f.field, f.id));
          if (list === undefined || list.live === 0) continue;
          found.push(list);
          n += list.live;
        }
      }
      if (n < size) [lists, size, field] = [found, n, f.field];
    }
    const others = filters.filter((f) => f.field !== field);
    this.#mergeNewest(lists, (slot) => {
      for (const f of others) if (t.col(slot, f.column) !== f.id) return true;
      top.push(t.materialize(slot));
      return top.length < limit;
    }, query.counter);
    return top;
  }

  /**
   * Move a slot from the lists of what it holds to those of `next` (`null`: out of all).
   *
   * @param slot The slot (its table columns still hold the old values).
   * @param next The new tenant, status, filter values (interned ids by column) and `updated_at`.
   */
  move(slot: number, next: { ids: number[]; status: number; at: number } | null): void {
    const t = this.#table;
    const held = t.status[slot] !== 0;
    const oldStatus = t.status[slot]! - 1;
    const oldTenant = held ? t.col(slot, C_TENANT) : 0;
    const oldAt = t.at[slot]!;
    for (let f = 0; f < _FIELDS; f++) {
      const column = f === 0 ? -1 : FILTER_COLUMNS[f - 1]!;
      const oldValue = !held ? -1 : f === 0 ? 0 : t.col(slot, column) || -1;
      const newValue = next === null ? -1 : f === 0 ? 0 : next.ids[column]! || -1;
      const newTenant = next === null ? 0 : next.ids[C_TENANT]!;
      if (
        oldValue >= 0 && newValue === oldValue && oldTenant === newTenant &&
        oldStatus === next!.status && oldAt === next!.at
      ) continue;
      if (oldValue >= 0) {
        const m = this.#lists.get(oldTenant)!;
        const key = _listKey(oldStatus, f, oldValue);
        const list = m.get(key)!;
        list.remove(oldAt, slot);
        if (list.live === 0) {
          m.delete(key);
          if (m.size === 0) this.#lists.delete(oldTenant);
        }
      }
      if (newValue >= 0) {
        this.#listFor(newTenant, _listKey(next!.status, f, newValue)).insert(next!.at, slot);
      }
    }
  }

  #listFor(tenant: number, key: number): ChunkedSlots {
    let m = this.#lists.get(tenant);
    if (m === undefined) this.#lists.set(tenant, m = new Map());
    let list = m.get(key);
    if (list === undefined) m.set(key, list = new ChunkedSlots(this.#tie));
    return list;
  }

  /** Build every list at once from the table (after the initial load): one sort, then appends. */
  build(): void {
    this.#lists.clear();
    const t = this.#table;
    const at = t.at;
    const order: number[] = [];
    for (let s = 0; s < t.length; s++) if (t.status[s] !== 0) order.push(s);
    order.sort((a, b) => at[a]! - at[b]! || t.compareIds(a, b));
    for (const slot of order) {
      const status = t.status[slot]! - 1;
      const tenant = t.col(slot, C_TENANT);
      for (let f = 0; f < _FIELDS; f++) {
        const value = f === 0 ? 0 : t.col(slot, FILTER_COLUMNS[f - 1]!);
        if (f > 0 && value === 0) continue;
        this.#listFor(tenant, _listKey(status, f, value)).push(at[slot]!, slot);
      }
    }
  }

  /**
   * Drop tombstones and renumber slots after a table compaction.
   *
   * @param map New slot of each old one.
   */
  rewrite(map: (slot: number) => number): void {
    for (const m of this.#lists.values()) for (const list of m.values()) list.rewrite(map);
  }

  /** Visit the entries of several lists, newest first, until `visit` says stop. */
  #mergeNewest(
    lists: ChunkedSlots[],
    visit: (slot: number) => boolean,
    counter: { steps: number } | undefined,
  ): void {
    // Per list: the chunk and the position in it of the next entry (walking backwards).
    const chunk = lists.map((l) => l.chunks.length - 1);
    const pos = lists.map((l) => (l.chunks[l.chunks.length - 1]?.n ?? 0) - 1);
    let steps = 0;
    while (true) {
      let best = -1;
      let bestKey = 0;
      let bestSlot = 0;
      for (let i = 0; i < lists.length; i++) {
        if (pos[i]! < 0) continue;
        const c = lists[i]!.chunks[chunk[i]!]!;
        const key = c.keys[pos[i]!]!;
        const slot = c.slots[pos[i]!]!;
        if (best < 0 || key > bestKey || (key === bestKey && this.#tie(slot, bestSlot) > 0)) {
          [best, bestKey, bestSlot] = [i, key, slot];
        }
      }
      if (best < 0) break;
      if (--pos[best]! < 0 && chunk[best]! > 0) {
        chunk[best]!--;
        pos[best] = lists[best]!.chunks[chunk[best]!]!.n - 1;
      }
      steps++;
      if (!visit(bestSlot)) break;
    }
    if (counter) counter.steps += steps;
  }

  /** The list maps of one tenant, or of every tenant (`undefined`). */
  #tenantMaps(tenantId: string | null | undefined): Map<number, ChunkedSlots>[] {
    if (tenantId === undefined) return [...this.#lists.values()];
    const id = this.#table.strings.idOf(tenantId);
    const m = id === undefined ? undefined : this.#lists.get(id);
    return m === undefined ? [] : [m];
  }
}
