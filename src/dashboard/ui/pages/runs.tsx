/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The runs page: the newest runs (up to the API's 200) with status, flow, tag, worker and age;
 * filters in the URL; pages of 25/50/100 rows; kept current by `GET /runs/watch` (new and
 * changing runs appear without reload, runs that leave the status filter disappear).
 *
 * @module
 */

import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type RunSummary } from "../api.ts";
import { Banner, Chip, LiveDot, RunLink } from "../components.tsx";
import { age } from "../format.ts";
import { navigate, useNow } from "../hooks.ts";
import { openStream, type StreamState } from "../sse.ts";

const _STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED"];
const _FETCH_LIMIT = 200;
const _KEEP_MAX = 1000;

/**
 * The runs page.
 *
 * @param props The route query (`status`, `flow`, `tag`, `q`, `page`, `size`).
 * @returns The page.
 */
export function RunsPage(props: { query: URLSearchParams }) {
  const status = props.query.get("status") ?? "";
  const flow = props.query.get("flow") ?? "";
  const tag = props.query.get("tag") ?? "";
  const q = props.query.get("q") ?? "";
  const deleted = props.query.get("deleted") ?? "";
  const size = Number(props.query.get("size") ?? "50") || 50;
  const page = Math.max(1, Number(props.query.get("page") ?? "1") || 1);
  const now = useNow(1000);
  const [runs, setRuns] = useState<Map<string, RunSummary & { _seen: number }>>(new Map());
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState<StreamState>("connecting");

  const setQuery = (patch: Record<string, string>) => {
    const next: Record<string, string> = { status, flow, tag, q, size: String(size), ...patch };
    if (next.size === "50") next.size = "";
    if (!("page" in patch)) next.page = "";
    navigate("/runs", next, true);
  };

  useEffect(() => {
    let cancelled = false;
    setRuns(new Map());
    setLoading(true);
    setError(null);
    const filters = new URLSearchParams();
    if (flow) filters.set("flow", flow);
    if (tag) filters.set("tag", tag);
    const list = new URLSearchParams(filters);
    if (status) list.set("status", status);
    list.set("limit", String(_FETCH_LIMIT));
    // The watch starts first and the list is merged under it, so no change falls in between.
    // Status is filtered here, not by the server: a run that leaves the filter must vanish.
    const stop = openStream(`/runs/watch?${filters}`, {
      onState: (s, err) => {
        setLive(s);
        if (err) setError(err);
      },
      onFrame: (f) => {
        if (f.event === "summary") {
          const r = JSON.parse(f.data) as RunSummary;
          setRuns((old) => {
            const next = new Map(old);
            if (status && r.status !== status) next.delete(r.run_id);
            else next.set(r.run_id, { ...r, _seen: Date.now() });
            if (next.size > _KEEP_MAX) _trim(next);
            return next;
          });
        } else if (f.event === "removed") {
          const { run_id } = JSON.parse(f.data) as { run_id: string };
          setRuns((old) => {
            const next = new Map(old);
            next.delete(run_id);
            return next;
          });
        }
      },
    });
    api<RunSummary[]>(`/runs?${list}`).then((items) => {
      if (cancelled) return;
      setRuns((old) => {
        const next = new Map(items.map((r) => [r.run_id, { ...r, _seen: 0 }]));
        for (const [id, r] of old) {
          const listed = next.get(id);
          if (!listed || listed.updated_at <= r.updated_at) next.set(id, r);
        }
        return next;
      });
      setLoading(false);
    }).catch((err) => {
      if (cancelled) return;
      setError(err);
      setLoading(false);
    });
    return () => {
      cancelled = true;
      stop();
    };
  }, [status, flow, tag]);

  const rows = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return [...runs.values()]
      .filter((r) => needle === "" || r.run_id.toLowerCase().includes(needle))
      .sort((a, b) => b.updated_at - a.updated_at || (a.run_id < b.run_id ? 1 : -1));
  }, [runs, q]);
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const current = Math.min(page, pages);
  const shown = rows.slice((current - 1) * size, current * size);
  const flows = useMemo(() => [...new Set([...runs.values()].map((r) => r.flow_name))].sort(), [
    runs,
  ]);

  return (
    <div class="page">
      <div class="page-head">
        <h1>Runs</h1>
        <LiveDot state={live} />
        <a class="btn btn-primary" href="#/submit">New run</a>
      </div>
      <form
        class="filters"
        role="search"
        aria-label="Filter runs"
        onSubmit={(e) => e.preventDefault()}
      >
        <div class="field">
          <label for="f-status">Status</label>
          <select
            id="f-status"
            value={status}
            onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value })}
          >
            <option value="">All</option>
            {_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="f-flow">Flow</label>
          <input
            id="f-flow"
            list="flow-names"
            value={flow}
            placeholder="any"
            onChange={(e) => setQuery({ flow: (e.target as HTMLInputElement).value.trim() })}
          />
          <datalist id="flow-names">
            {flows.map((f) => <option key={f} value={f} />)}
          </datalist>
        </div>
        <div class="field">
          <label for="f-tag">Tag</label>
          <input
            id="f-tag"
            value={tag}
            placeholder="any"
            onChange={(e) => setQuery({ tag: (e.target as HTMLInputElement).value.trim() })}
          />
        </div>
        <div class="field field-grow">
          <label for="f-q">Search run id</label>
          <input
            id="f-q"
            type="search"
            value={q}
            placeholder="part of a run id"
            onInput={(e) => setQuery({ q: (e.target as HTMLInputElement).value })}
          />
        </div>
      </form>
      <Banner error={error ?? undefined} />
      {deleted && <Banner kind="ok">Run {deleted} was deleted.</Banner>}
      <div class="table-wrap">
        <table class="table" aria-describedby="runs-caption">
          <caption id="runs-caption" class="sr-only">
            Runs, newest update first
          </caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Run</th>
              <th scope="col">Flow</th>
              <th scope="col" class="col-opt">Tag</th>
              <th scope="col" class="col-wide">Worker</th>
              <th scope="col">Updated</th>
              <th scope="col" class="col-opt">Error</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr
                key={r.run_id}
                data-run-id={r.run_id}
                data-status={r.status}
                class={now - r._seen < 1500 ? "flash" : undefined}
              >
                <td>
                  <Chip status={r.status} />
                </td>
                <td>
                  <RunLink id={r.run_id} />
                </td>
                <td class="cell-wrap">{r.flow_name}</td>
                <td class="col-opt">{r.tag ?? "—"}</td>
                <td class="mono cell-clip col-wide" title={r.worker_id ?? undefined}>
                  {r.worker_id ?? "—"}
                </td>
                <td title={new Date(r.updated_at * 1000).toLocaleString()}>
                  {age(r.updated_at, now)} ago
                </td>
                <td
                  class={`col-opt ${r.status === "CANCELLED" ? "cell-note" : "cell-error"}`}
                  title={r.error ?? undefined}
                >
                  {r.error ?? ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!loading && shown.length === 0 && (
          <p class="empty">
            {runs.size === 0 ? "No runs yet. " : "No run matches these filters. "}
            <a href="#/submit">Submit one</a>
          </p>
        )}
        {loading && <p class="empty">Loading…</p>}
        {!loading && /^[A-Za-z0-9_-]{8,128}$/.test(q.trim()) && !runs.has(q.trim()) && (
          <p class="empty">
            Not among the newest runs:{" "}
            <a href={`#/runs/${encodeURIComponent(q.trim())}`}>
              open run {q.trim()}
            </a>
          </p>
        )}
      </div>
      <nav class="pager" aria-label="Pages of runs">
        <span class="muted">
          {rows.length === 0
            ? "0 runs"
            : `${(current - 1) * size + 1}–${
              (current - 1) * size + shown.length
            } of ${rows.length}`}
          {rows.length >= _FETCH_LIMIT && " newest (narrow the filters for older runs)"}
        </span>
        <label for="f-size" class="sr-only">Rows per page</label>
        <select
          id="f-size"
          value={String(size)}
          onChange={(e) => setQuery({ size: (e.target as HTMLSelectElement).value })}
        >
          {[25, 50, 100].map((n) => <option key={n} value={String(n)}>{n} per page</option>)}
        </select>
        <button
          type="button"
          class="btn btn-small"
          disabled={current <= 1}
          onClick={() => setQuery({ page: String(current - 1) })}
        >
          Previous
        </button>
        <button
          type="button"
          class="btn btn-small"
          disabled={current >= pages}
          onClick={() => setQuery({ page: String(current + 1) })}
        >
          Next
        </button>
      </nav>
    </div>
  );
}

function _trim(runs: Map<string, RunSummary & { _seen: number }>): void {
  const oldest = [...runs.values()].sort((a, b) => a.updated_at - b.updated_at);
  for (const r of oldest.slice(0, runs.size - _KEEP_MAX)) runs.delete(r.run_id);
}
