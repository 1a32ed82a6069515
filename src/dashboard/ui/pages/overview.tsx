/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Overview: run counts by status, workers alive, dead letters, queue depth per tag and runs
 * pending and running per tenant and priority (from `GET /metrics`), throughput of the last 15
 * minutes (runs that ended, per minute) and the latest runs. Run changes arrive on
 * `GET /runs/watch`; the metrics are re-read at most once a second after a change and every 10 s
 * otherwise.
 *
 * @module
 */

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, parseMetrics, type RunSummary } from "../api.ts";
import { Banner, Chip, LiveDot, Panel, RunLink } from "../components.tsx";
import { age } from "../format.ts";
import { useNow, usePoll } from "../hooks.ts";
import { openStream, type StreamState } from "../sse.ts";
import { type TenantFigures, tenantFigures, TenantsPanel } from "./overview_tenants.tsx";

const _STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED"];
const _ENDED = ["COMPLETED", "FAILED", "CANCELLED"] as const;
const _MINUTES = 15;
const _KEEP_MAX = 5000;

interface _Metrics {
  runs: Record<string, number>;
  queues: { tag: string; pending: number }[];
  workersAlive: number;
  dlq: number;
  tenants: TenantFigures;
}

/**
 * The overview page.
 *
 * @returns The page.
 */
export function OverviewPage() {
  const now = useNow(5000);
  const [metrics, setMetrics] = useState<_Metrics | null>(null);
  const [runs, setRuns] = useState<Map<string, RunSummary>>(new Map());
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState<StreamState>("connecting");
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);

  const loadMetrics = () => {
    api<string>("/metrics", { headers: { accept: "text/plain" } })
      .then((text) => {
        const samples = parseMetrics(text);
        const m: _Metrics = {
          runs: {},
          queues: [],
          workersAlive: 0,
          dlq: 0,
          tenants: tenantFigures(samples),
        };
        const byTag = new Map<string, number>();
        for (const s of samples) {
          if (s.name === "pyoco_runs_total" && s.labels.status) m.runs[s.labels.status] = s.value;
          else if (s.name === "pyoco_queue_pending" && s.labels.tag !== undefined) {
            // Namespaced: one sample per tenant, tag and priority, summed per tag here.
            byTag.set(s.labels.tag, (byTag.get(s.labels.tag) ?? 0) + s.value);
          } else if (s.name === "pyoco_workers_alive_total") m.workersAlive = s.value;
          else if (s.name === "pyoco_dlq_messages_total") m.dlq = s.value;
        }
        m.queues = [...byTag].map(([tag, pending]) => ({ tag, pending }));
        m.queues.sort((a, b) => b.pending - a.pending || a.tag.localeCompare(b.tag));
        setMetrics(m);
        setError(null);
      })
      .catch(setError);
  };
  usePoll(loadMetrics, 10_000, []);

  useEffect(() => {
    let cancelled = false;
    const upsert = (items: RunSummary[]) =>
      setRuns((old) => {
        const next = new Map(old);
        for (const r of items) {
          const had = next.get(r.run_id);
          if (!had || had.updated_at <= r.updated_at) next.set(r.run_id, r);
        }
        if (next.size > _KEEP_MAX) {
          // Only the chart's window and the latest few matter: keep memory bounded.
          const cutoff = Date.now() / 1000 - (_MINUTES + 1) * 60;
          const newest = [...next.values()].sort((a, b) => b.updated_at - a.updated_at);
          for (const [i, r] of newest.entries()) {
            if (i >= 8 && r.updated_at < cutoff) next.delete(r.run_id);
          }
        }
        return next;
      });
    const stop = openStream("/runs/watch", {
      onState: setLive,
      onFrame: (f) => {
        if (f.event !== "summary") return;
        upsert([JSON.parse(f.data) as RunSummary]);
        if (pending.current === null) {
          pending.current = setTimeout(() => {
            pending.current = null;
            if (!cancelled) loadMetrics();
          }, 1000);
        }
      },
    });
    api<RunSummary[]>("/runs?limit=200").then((items) => !cancelled && upsert(items))
      .catch(() => {});
    api<RunSummary[]>(`/runs?status=${_ENDED.join(",")}&limit=200`)
      .then((items) => !cancelled && upsert(items)).catch(() => {});
    return () => {
      cancelled = true;
      stop();
      if (pending.current !== null) clearTimeout(pending.current);
    };
  }, []);

  const latest = useMemo(
    () => [...runs.values()].sort((a, b) => b.updated_at - a.updated_at).slice(0, 8),
    [runs],
  );
  const buckets = useMemo(() => {
    const end = Math.floor(now / 60_000);
    const out = Array.from({ length: _MINUTES }, (_, i) => ({
      minute: end - _MINUTES + 1 + i,
      COMPLETED: 0,
      FAILED: 0,
      CANCELLED: 0,
    }));
    for (const r of runs.values()) {
      if (!(_ENDED as readonly string[]).includes(r.status)) continue;
      const i = Math.floor((r.updated_at * 1000) / 60_000) - out[0]!.minute;
      if (i >= 0 && i < _MINUTES) out[i]![r.status as (typeof _ENDED)[number]]++;
    }
    return out;
  }, [runs, now]);
  const ended = buckets.reduce((n, b) => n + b.COMPLETED + b.FAILED + b.CANCELLED, 0);

  return (
    <div class="page">
      <div class="page-head">
        <h1>Overview</h1>
        <LiveDot state={live} />
      </div>
      <Banner error={error ?? undefined} />
      <ul class="cards" aria-label="Runs by status">
        {_STATUSES.map((s) => (
          <li key={s}>
            <a
              class={`card card-${s.toLowerCase()}`}
              href={`#/runs?status=${s}`}
              data-count-status={s}
            >
              <span class="card-label">{s.toLowerCase()}</span>
              <span class="card-value">{metrics ? (metrics.runs[s] ?? 0) : "…"}</span>
            </a>
          </li>
        ))}
        <li>
          <a class="card" href="#/workers" title="Workers with a fresh heartbeat">
            <span class="card-label">workers</span>
            <span class="card-value">{metrics ? metrics.workersAlive : "…"}</span>
          </a>
        </li>
        <li>
          <a class={`card ${metrics?.dlq ? "card-failed" : ""}`} href="#/dlq">
            <span class="card-label">dead letters</span>
            <span class="card-value">{metrics ? metrics.dlq : "…"}</span>
          </a>
        </li>
      </ul>
      <div class="grid-2">
        <Panel
          title="Throughput"
          class="panel-wide"
          actions={<span class="muted">{ended} runs ended in the last {_MINUTES} min</span>}
        >
          <Throughput buckets={buckets} />
        </Panel>
        <Panel title="Queue depth">
          {metrics && metrics.queues.length > 0
            ? (
              <table class="table table-compact">
                <caption class="sr-only">Jobs waiting or in flight, by tag</caption>
                <thead>
                  <tr>
                    <th scope="col">Tag</th>
                    <th scope="col" class="num">Pending</th>
                    <th scope="col">
                      <span class="sr-only">Bar</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {metrics.queues.map((q) => {
                    const max = Math.max(1, ...metrics.queues.map((x) => x.pending));
                    return (
                      <tr key={q.tag} data-queue-tag={q.tag}>
                        <td>{q.tag}</td>
                        <td class="num">{q.pending}</td>
                        <td class="bar-cell">
                          <meter
                            min={0}
                            max={max}
                            value={q.pending}
                            aria-label={`${q.tag} pending`}
                          />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )
            : <p class="empty">{metrics ? "No queue yet." : "Loading…"}</p>}
        </Panel>
      </div>
      <TenantsPanel figures={metrics?.tenants ?? null} />
      <Panel title="Latest runs" actions={<a href="#/runs">All runs</a>}>
        {latest.length === 0
          ? (
            <p class="empty">
              No runs yet. <a href="#/submit">Submit one</a>
            </p>
          )
          : (
            <table class="table table-compact">
              <caption class="sr-only">Latest runs</caption>
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Run</th>
                  <th scope="col">Flow</th>
                  <th scope="col" class="col-opt">Tag</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {latest.map((r) => (
                  <tr key={r.run_id}>
                    <td>
                      <Chip status={r.status} />
                    </td>
                    <td>
                      <RunLink id={r.run_id} />
                    </td>
                    <td>{r.flow_name}</td>
                    <td class="col-opt">{r.tag ?? "—"}</td>
                    <td>{age(r.updated_at, Date.now())} ago</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </Panel>
    </div>
  );
}

function Throughput(props: {
  buckets: { minute: number; COMPLETED: number; FAILED: number; CANCELLED: number }[];
}) {
  const W = 600;
  const H = 160;
  const left = 32;
  const bottom = 22;
  const peak = Math.max(1, ...props.buckets.map((b) => b.COMPLETED + b.FAILED + b.CANCELLED));
  const max = peak <= 4 ? peak : Math.ceil(peak / 4) * 4;
  const ticks = max % 2 === 0 ? [0, max / 2, max] : [0, max];
  const step = (W - left) / props.buckets.length;
  const top = 10;
  const y = (v: number) => top + (H - bottom - top) * (1 - v / max);
  const summary = props.buckets.map((b) => {
    const d = new Date(b.minute * 60_000);
    return `${d.getHours()}:${
      String(d.getMinutes()).padStart(2, "0")
    } ${b.COMPLETED} completed, ${b.FAILED} failed, ${b.CANCELLED} cancelled`;
  }).join("; ");
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Runs ended per minute: ${summary}`}>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={left} x2={W} y1={y(t)} y2={y(t)} class="chart-grid" />
            <text x={left - 6} y={y(t) + 4} class="chart-axis" text-anchor="end">{t}</text>
          </g>
        ))}
        {props.buckets.map((b, i) => {
          const x = left + i * step + step * 0.15;
          const w = step * 0.7;
          let base = 0;
          const bars = (["COMPLETED", "FAILED", "CANCELLED"] as const).map((k) => {
            const v = b[k];
            if (v === 0) return null;
            const el = (
              <rect
                key={k}
                x={x}
                width={w}
                y={y(base + v)}
                height={y(base) - y(base + v)}
                class={`bar bar-${k.toLowerCase()}`}
              />
            );
            base += v;
            return el;
          });
          const d = new Date(b.minute * 60_000);
          return (
            <g key={b.minute}>
              {bars}
              {i % 3 === 2 && (
                <text x={x + w / 2} y={H - 6} class="chart-axis" text-anchor="middle">
                  {`${d.getHours()}:${String(d.getMinutes()).padStart(2, "0")}`}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        <span>
          <i class="swatch bar-completed" />completed
        </span>
        <span>
          <i class="swatch bar-failed" />failed
        </span>
        <span>
          <i class="swatch bar-cancelled" />cancelled
        </span>
      </figcaption>
    </figure>
  );
}
