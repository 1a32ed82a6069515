/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Dead letters: jobs a worker gave up on, with the reason and error, and a Replay button that
 * re-submits the original job as a new run (`POST /dlq/{seq}/replay`). Re-read every 10 s while
 * the tab is visible.
 *
 * @module
 */

import { useState } from "preact/hooks";
import { api, type DlqEntry, sendJson } from "../api.ts";
import { Banner, Chip, RunLink } from "../components.tsx";
import { age, clock } from "../format.ts";
import { useNow, usePoll } from "../hooks.ts";

const _REASONS = ["invalid_job", "flow_not_found", "execution_error"];

/**
 * The dead-letter page.
 *
 * @returns The page.
 */
export function DlqPage() {
  const now = useNow(1000);
  const [entries, setEntries] = useState<DlqEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reason, setReason] = useState("");
  const [tag, setTag] = useState("");
  const [replayed, setReplayed] = useState<Record<number, string>>({});
  const [busy, setBusy] = useState<number | null>(null);

  const load = () => {
    const q = new URLSearchParams({ limit: "100" });
    if (reason) q.set("reason", reason);
    if (tag) q.set("tag", tag);
    api<DlqEntry[] | { items?: DlqEntry[]; entries?: DlqEntry[] }>(`/dlq?${q}`)
      .then((body) => {
        const list = Array.isArray(body) ? body : body.items ?? body.entries ?? [];
        setEntries([...list].sort((a, b) => b.seq - a.seq));
        setError(null);
      })
      .catch(setError);
  };
  usePoll(load, 10_000, [reason, tag]);

  const replay = async (e: DlqEntry) => {
    setBusy(e.seq);
    try {
      const res = await sendJson<{ run_id: string }>(`/dlq/${e.seq}/replay`, {});
      setReplayed((old) => ({ ...old, [e.seq]: res.run_id }));
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
        <h1>Dead letters</h1>
        <span class="muted">refreshed every 10 s</span>
      </div>
      <form class="filters" aria-label="Filter dead letters" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="d-reason">Reason</label>
          <select
            id="d-reason"
            value={reason}
            onChange={(e) => setReason((e.target as HTMLSelectElement).value)}
          >
            <option value="">All</option>
            {_REASONS.map((r) => <option key={r} value={r}>{r.replace(/_/g, " ")}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="d-tag">Tag</label>
          <input
            id="d-tag"
            value={tag}
            placeholder="any"
            onChange={(e) => setTag((e.target as HTMLInputElement).value.trim())}
          />
        </div>
      </form>
      <Banner error={error ?? undefined} />
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Dead letters, newest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Reason</th>
              <th scope="col">Flow</th>
              <th scope="col">Tag</th>
              <th scope="col">Run</th>
              <th scope="col">Error</th>
              <th scope="col">Deliveries</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(entries ?? []).map((e) => (
              <tr key={e.seq} data-dlq-seq={e.seq}>
                <td class="mono">{e.seq}</td>
                <td title={clock(e.timestamp)}>{age(e.timestamp, now)} ago</td>
                <td>
                  <Chip status={e.reason} />
                </td>
                <td>{e.flow_name ?? "—"}</td>
                <td>{e.tag ?? "—"}</td>
                <td>
                  <RunLink id={e.run_id} />
                </td>
                <td class="cell-error" title={e.error}>{e.error}</td>
                <td>{e.num_delivered}</td>
                <td class="cell-actions">
                  {replayed[e.seq]
                    ? (
                      <span class="replayed">
                        Replayed as <RunLink id={replayed[e.seq]} />
                      </span>
                    )
                    : (
                      <button
                        type="button"
                        class="btn btn-small"
                        disabled={busy === e.seq || typeof e.job !== "object" || e.job === null}
                        onClick={() => replay(e)}
                        aria-label={`Replay dead letter ${e.seq}`}
                        title={typeof e.job === "object" && e.job !== null
                          ? "Submit the original job again as a new run"
                          : "The original job was not JSON: it cannot be replayed"}
                      >
                        {busy === e.seq ? "Replaying…" : "Replay"}
                      </button>
                    )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {entries !== null && entries.length === 0 && (
          <p class="empty">No dead letters{reason || tag ? " match these filters" : ""}.</p>
        )}
      </div>
    </div>
  );
}
