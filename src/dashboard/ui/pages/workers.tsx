/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Workers: state (IDLE, RUNNING, STOPPED, DISCONNECTED), tags, current runs, heartbeat age,
 * and hide/unhide. The registry has no change stream, so the page re-reads `GET /workers` every
 * 5 s while the tab is visible (one small KV read).
 *
 * @module
 */

import { useState } from "preact/hooks";
import { api, sendJson, type WorkerView } from "../api.ts";
import { Banner, Chip, RunLink } from "../components.tsx";
import { age } from "../format.ts";
import { useNow, usePoll } from "../hooks.ts";

/**
 * The workers page.
 *
 * @returns The page.
 */
export function WorkersPage() {
  const now = useNow(1000);
  const [workers, setWorkers] = useState<WorkerView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [showHidden, setShowHidden] = useState(false);
  const [activeOnly, setActiveOnly] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);

  const load = () => {
    const scope = activeOnly ? "active" : "all";
    api<WorkerView[]>(`/workers?scope=${scope}&include_hidden=${showHidden}`)
      .then((w) => {
        setWorkers(w);
        setError(null);
      })
      .catch(setError);
  };
  usePoll(load, 5000, [showHidden, activeOnly]);

  const toggle = async (w: WorkerView) => {
    setBusy(w.worker_id);
    try {
      await sendJson(`/workers/${encodeURIComponent(w.worker_id)}`, { hidden: !w.hidden }, "PATCH");
      load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>Workers</h1>
        <span class="muted">refreshed every 5 s</span>
      </div>
      <div class="filters">
        <label class="check">
          <input
            type="checkbox"
            checked={activeOnly}
            onChange={(e) => setActiveOnly((e.target as HTMLInputElement).checked)}
          />
          Active only
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={showHidden}
            onChange={(e) => setShowHidden((e.target as HTMLInputElement).checked)}
          />
          Show hidden workers
        </label>
      </div>
      <Banner error={error ?? undefined} />
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Workers</caption>
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">State</th>
              <th scope="col">Tags</th>
              <th scope="col">Current run</th>
              <th scope="col">Concurrency</th>
              <th scope="col">Heartbeat</th>
              <th scope="col">Up for</th>
              <th scope="col">Version</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(workers ?? []).map((w) => {
              const runs = w.current_run_ids?.length
                ? w.current_run_ids
                : w.current_run_id
                ? [w.current_run_id]
                : [];
              return (
                <tr
                  key={w.worker_id}
                  data-worker-id={w.worker_id}
                  class={w.hidden ? "row-hidden" : ""}
                >
                  <td class="mono">
                    {w.worker_id}
                    {w.hidden && <span class="muted">(hidden)</span>}
                  </td>
                  <td>
                    <Chip status={w.state ?? "UNKNOWN"} />
                  </td>
                  <td>
                    {(w.tags ?? []).map((t) => <span key={t} class="tag">{t}</span>)}
                  </td>
                  <td>
                    {runs.length === 0
                      ? <span class="muted">—</span>
                      : runs.map((id) => (
                        <span key={id} class="run-ref">
                          <RunLink id={id} />
                        </span>
                      ))}
                  </td>
                  <td>{w.concurrency ?? "—"}</td>
                  <td>{age(w.heartbeat_at, now)} ago</td>
                  <td>{age(w.started_at, now)}</td>
                  <td class="muted">{w.version ?? "—"}</td>
                  <td class="cell-actions">
                    <button
                      type="button"
                      class="btn btn-small"
                      disabled={busy === w.worker_id}
                      onClick={() => toggle(w)}
                      aria-label={`${w.hidden ? "Unhide" : "Hide"} worker ${w.worker_id}`}
                    >
                      {w.hidden ? "Unhide" : "Hide"}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {workers !== null && workers.length === 0 && (
          <p class="empty">
            No worker {activeOnly ? "is active" : "has reported"}. Start one with{" "}
            <code>deno task worker -- --flows ./examples/flows.ts</code>.
          </p>
        )}
      </div>
    </div>
  );
}
