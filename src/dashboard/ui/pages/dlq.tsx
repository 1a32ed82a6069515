/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Dead letters: jobs a worker gave up on, with the reason and error, a Replay button that
 * re-submits the original job as a new run (`POST /dlq/{seq}/replay`), the runs an entry was
 * replayed as (`replayed_as`, SPEC §15), and Delete (`DELETE /dlq/{seq}`, after a second click).
 * Re-read every 10 s while the tab is visible.
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
  const [confirming, setConfirming] = useState<number | null>(null);
  const [notice, setNotice] = useState("");

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

  const remove = async (e: DlqEntry) => {
    setBusy(e.seq);
    try {
      await api(`/dlq/${e.seq}`, { method: "DELETE" });
      setConfirming(null);
      setEntries((old) => old?.filter((x) => x.seq !== e.seq) ?? null);
      setNotice(`Dead letter #${e.seq} was deleted.`);
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const replays = (e: DlqEntry) => [
    ...new Set([...(e.replayed_as ?? []), ...(replayed[e.seq] ? [replayed[e.seq]!] : [])]),
  ];

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
      {notice && <Banner kind="ok">{notice}</Banner>}
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
                  <DlqActions
                    entry={e}
                    replays={replays(e)}
                    busy={busy === e.seq}
                    confirming={confirming === e.seq}
                    onReplay={() => replay(e)}
                    onDelete={() => remove(e)}
                    onConfirm={(on) => setConfirming(on ? e.seq : null)}
                  />
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

function DlqActions(props: {
  entry: DlqEntry;
  replays: string[];
  busy: boolean;
  confirming: boolean;
  onReplay: () => void;
  onDelete: () => void;
  onConfirm: (on: boolean) => void;
}) {
  const e = props.entry;
  const replayable = typeof e.job === "object" && e.job !== null;
  return (
    <div class="actions actions-end">
      {props.replays.length > 0 && (
        <span class="replayed" data-replayed-as={props.replays.join(" ")}>
          Replayed as {props.replays.map((id) => <RunLink key={id} id={id} />)}
        </span>
      )}
      {props.confirming
        ? (
          <span class="confirm" role="group" aria-label={`Confirm delete of ${e.seq}`}>
            <button
              type="button"
              class="btn btn-small btn-danger"
              disabled={props.busy}
              onClick={props.onDelete}
            >
              {props.busy ? "Deleting…" : "Yes, delete"}
            </button>
            <button type="button" class="btn btn-small" onClick={() => props.onConfirm(false)}>
              Keep
            </button>
          </span>
        )
        : (
          <>
            <button
              type="button"
              class="btn btn-small"
              disabled={props.busy || !replayable}
              onClick={props.onReplay}
              aria-label={`Replay dead letter ${e.seq}`}
              title={replayable
                ? "Submit the original job again as a new run"
                : "The original job was not JSON: it cannot be replayed"}
            >
              {props.busy ? "Working…" : props.replays.length > 0 ? "Replay again" : "Replay"}
            </button>
            <button
              type="button"
              class="btn btn-small"
              disabled={props.busy}
              onClick={() => props.onConfirm(true)}
              aria-label={`Delete dead letter ${e.seq}`}
            >
              Delete
            </button>
          </>
        )}
    </div>
  );
}
