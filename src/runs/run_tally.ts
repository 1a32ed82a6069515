/**
 * Live counts of the run index: runs per status, and per tenant, priority and status. The
 * index adds a slot's run when it stores it and takes it away before it changes or frees it, so
 * a count costs nothing to read (O(tenants × priorities)) however many runs are stored: behind
 * `pyoco_runs_total`, `pyoco_tenant_running` and `pyoco_tenant_runs`, read on every `/metrics`.
 *
 * The groups are keyed by the interned ids of tenant and priority: a group with a run in it
 * holds a reference to both strings, and a group whose counts all reach zero is dropped, so an
 * id is never read after the interner has let it go.
 *
 * @module
 */

import { DEFAULT_PRIORITY } from "../contract/tenancy.ts";
import { C_PRIORITY, C_TENANT, type RunTable } from "./run_table.ts";

/** The runs of one tenant and priority, by status. */
export interface TenantTally {
  /** The tenant (`null`: runs without one, submitted without an API key). */
  tenantId: string | null;
  /** The priority (a run that names none counts as `normal`). */
  priority: string;
  /** Runs by status name (statuses without a run left out). */
  byStatus: Record<string, number>;
}

/** Runs per status and per tenant, priority and status, kept as the index changes. */
export class RunTally {
  readonly #table: RunTable;
  readonly #byStatus: number[] = [];
  /** Tenant id → priority id → runs by status code. */
  readonly #groups = new Map<number, Map<number, number[]>>();

  /**
   * A tally of a table's runs (empty: the index adds every run it stores).
   *
   * @param table The index's table.
   */
  constructor(table: RunTable) {
    this.#table = table;
  }

  /**
   * Count a stored slot's run (`1`) or take it away (`-1`, before the slot changes or is freed).
   *
   * @param slot A slot in use.
   * @param by `1` or `-1`.
   */
  add(slot: number, by: 1 | -1): void {
    const t = this.#table;
    const status = t.status[slot]! - 1;
    if (status < 0) return;
    this.#byStatus[status] = (this.#byStatus[status] ?? 0) + by;
    const tenant = t.col(slot, C_TENANT);
    const priority = t.col(slot, C_PRIORITY);
    let priorities = this.#groups.get(tenant);
    if (priorities === undefined) this.#groups.set(tenant, priorities = new Map());
    let counts = priorities.get(priority);
    if (counts === undefined) priorities.set(priority, counts = []);
    counts[status] = (counts[status] ?? 0) + by;
    if (by < 0 && counts.every((n) => !n)) {
      priorities.delete(priority);
      if (priorities.size === 0) this.#groups.delete(tenant);
    }
  }

  /**
   * Runs of one status.
   *
   * @param status The status code.
   * @returns How many.
   */
  ofStatus(status: number): number {
    return this.#byStatus[status] ?? 0;
  }

  /**
   * Runs per tenant and priority, by status.
   *
   * @returns One entry per tenant and priority that has runs (a run without a priority counts
   *   as `normal`), in no particular order.
   */
  byTenant(): TenantTally[] {
    const t = this.#table;
    const out = new Map<string, TenantTally>();
    for (const [tenant, priorities] of this.#groups) {
      const tenantId = t.strings.value(tenant);
      for (const [p, counts] of priorities) {
        const priority = t.strings.value(p) ?? DEFAULT_PRIORITY;
        const key = `${tenantId === null ? "" : `=${tenantId}`}\u0000${priority}`;
        const row = out.get(key) ?? { tenantId, priority, byStatus: {} };
        counts.forEach((n, code) => {
          const name = t.statusNames[code]!;
          if (n) row.byStatus[name] = (row.byStatus[name] ?? 0) + n;
        });
        out.set(key, row);
      }
    }
    return [...out.values()];
  }
}
