/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * The overview's Tenants table: runs pending and running per tenant and priority, from
 * `pyoco_tenant_runs{tenant,priority,status}` in `GET /metrics`, with a zero row for every queue
 * of `pyoco_queue_pending{tenant,tag,priority}` (namespaced mode) that has no run. Shown in
 * namespaced mode, or when runs of more than one tenant are waiting or running.
 *
 * @module
 */

import { PRIORITIES } from "../../../contract/tenancy.ts";
import { Panel } from "../components.tsx";

/** One row of the Tenants table. */
export interface TenantRow {
  /** The tenant (`_`: runs without an API key). */
  tenant: string;
  /** The priority. */
  priority: string;
  /** Runs `PENDING`. */
  pending: number;
  /** Runs `RUNNING`. */
  running: number;
  /** Runs `CANCELLING` (still on a worker, shown with the running ones). */
  cancelling: number;
}

/** What the Tenants table shows. */
export interface TenantFigures {
  /** Rows, by tenant and then priority (high, normal, low). */
  rows: TenantRow[];
  /** Whether the gateway runs in namespaced mode (its queues carry a tenant). */
  namespaced: boolean;
}

/**
 * The Tenants table's rows from the samples of `GET /metrics`.
 *
 * @param samples The parsed exposition.
 * @returns Rows and whether the gateway is namespaced.
 */
export function tenantFigures(
  samples: readonly { name: string; labels: Record<string, string>; value: number }[],
): TenantFigures {
  const rows = new Map<string, TenantRow>();
  const row = (tenant: string, priority: string) => {
    const key = `${tenant}\u0000${priority}`;
    let r = rows.get(key);
    if (r === undefined) {
      rows.set(key, r = { tenant, priority, pending: 0, running: 0, cancelling: 0 });
    }
    return r;
  };
  let namespaced = false;
  for (const s of samples) {
    const { tenant, priority, status } = s.labels;
    if (tenant === undefined || priority === undefined) continue;
    if (s.name === "pyoco_queue_pending") {
      namespaced = true;
      row(tenant, priority);
    } else if (s.name === "pyoco_tenant_runs") {
      const r = row(tenant, priority);
      if (status === "PENDING") r.pending += s.value;
      else if (status === "RUNNING") r.running += s.value;
      else if (status === "CANCELLING") r.cancelling += s.value;
    }
  }
  const rank = (p: string) => {
    const i = (PRIORITIES as readonly string[]).indexOf(p);
    return i < 0 ? PRIORITIES.length : i;
  };
  const sorted = [...rows.values()].sort((a, b) =>
    a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : rank(a.priority) - rank(b.priority)
  );
  return { rows: sorted, namespaced };
}

/**
 * The Tenants panel, or nothing when there is one tenant (or none) and the gateway is shared.
 *
 * @param props The figures (`null` while loading).
 * @returns The panel, or `null`.
 */
export function TenantsPanel(props: { figures: TenantFigures | null }) {
  const f = props.figures;
  if (f === null) return null;
  const tenants = new Set(f.rows.map((r) => r.tenant));
  if (!f.namespaced && tenants.size < 2) return null;
  return (
    <Panel title="Tenants" actions={<span class="muted">runs waiting and running</span>}>
      {/* A namespaced gateway has a queue, hence a row; otherwise two tenants have runs. */}
      <table class="table table-compact" data-tenants>
        <caption class="sr-only">Runs pending and running, by tenant and priority</caption>
        <thead>
          <tr>
            <th scope="col">Tenant</th>
            <th scope="col">Priority</th>
            <th scope="col" class="num">Pending</th>
            <th scope="col" class="num">Running</th>
          </tr>
        </thead>
        <tbody>
          {f.rows.map((r) => (
            <tr
              key={`${r.tenant} ${r.priority}`}
              data-tenant={r.tenant}
              data-priority={r.priority}
            >
              <td class="cell-wrap">
                {r.tenant === "_"
                  ? <span title="Runs submitted without an API key">_ (no key)</span>
                  : r.tenant}
              </td>
              <td>{r.priority}</td>
              <td class="num" data-pending={r.pending}>{r.pending}</td>
              <td
                class="num"
                data-running={r.running + r.cancelling}
                title={r.cancelling > 0
                  ? `${r.running} running, ${r.cancelling} cancelling`
                  : undefined}
              >
                {r.running + r.cancelling}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}
