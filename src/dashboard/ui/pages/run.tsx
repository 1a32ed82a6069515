/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * One run: its task graph coloured by state (live from `GET /runs/{id}/watch?include=records&
 * events=1`), a task's record on click, the run's log lines and events as they arrive, params,
 * outputs, the Cancel button, and a curl command that submits the same run again.
 *
 * @module
 */

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, API_KEY_HEADER, apiKey, type RunDetail, type RunEvent, sendJson } from "../api.ts";
import { Banner, Chip, CopyButton, Json, LiveDot, Panel } from "../components.tsx";
import { layoutDag } from "../dag.ts";
import { DagView } from "../dag_view.tsx";
import { age, clock, duration, shellQuote } from "../format.ts";
import { useNow } from "../hooks.ts";
import { openStream, type StreamState } from "../sse.ts";

const _TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const _STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];

/**
 * The run page.
 *
 * @param props The run id.
 * @returns The page.
 */
export function RunPage(props: { runId: string }) {
  const { runId } = props;
  const now = useNow(1000);
  const [run, setRun] = useState<RunDetail | null>(null);
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState<StreamState>("connecting");
  const [selected, setSelected] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const lastSeq = useRef(0);
  const terminal = useRef(false);

  const addEvents = (items: RunEvent[]) => {
    const fresh = items.filter((e) => e.seq > lastSeq.current);
    if (fresh.length === 0) return;
    lastSeq.current = fresh[fresh.length - 1]!.seq;
    setEvents((old) => [...old, ...fresh].slice(-2000));
  };

  useEffect(() => {
    const id = encodeURIComponent(runId);
    // Events published after the terminal snapshot are read with GET /runs/{id}/events.
    const _tail = async () => {
      for (let i = 0; i < 5; i++) {
        try {
          const page = await api<{ events: RunEvent[]; next_after_seq: number }>(
            `/runs/${id}/events?after_seq=${lastSeq.current}&limit=500`,
          );
          addEvents(page.events);
          if (page.events.length < 500) return;
        } catch {
          return;
        }
      }
    };
    const stop = openStream(`/runs/${id}/watch?include=records&events=1`, {
      shouldReconnect: () => !terminal.current,
      onState: (s, err) => {
        setLive(s);
        if (err) setError(err);
        if (s === "closed" && terminal.current) void _tail();
      },
      onFrame: (f) => {
        if (f.event === "snapshot") {
          const snap = JSON.parse(f.data) as RunDetail;
          terminal.current = _TERMINAL.has(snap.status);
          setRun((old) => ({ ...old, ...snap }));
          setError(null);
        } else if (f.event === "event") {
          addEvents([JSON.parse(f.data) as RunEvent]);
        } else if (f.event === "error") {
          const body = JSON.parse(f.data) as { detail: string; err_id: string };
          if (body.err_id === "ERR-PYOCO-0005") {
            setError(new Error(body.detail));
            return "stop";
          }
        }
        return undefined;
      },
    });
    // The worker fields (alive, tags) come only with GET /runs/{id}.
    api<RunDetail>(`/runs/${id}`).then((view) =>
      setRun((old) => ({
        ...view,
        ...old,
        worker_alive: view.worker_alive,
        worker_heartbeat_at: view.worker_heartbeat_at,
        worker_tags: view.worker_tags,
      }))
    ).catch((err) => setError(err));
    return stop;
  }, [runId]);

  const taskNames = useMemo(() => Object.keys(run?.tasks ?? {}), [run?.tasks]);
  const records = run?.task_records ?? {};
  const startOrder = useMemo(
    () =>
      Object.entries(records)
        .filter(([, r]) => r.started_at != null)
        .sort((a, b) => (a[1].started_at ?? 0) - (b[1].started_at ?? 0))
        .map(([name]) => name),
    [records],
  );
  const layout = useMemo(() => layoutDag(taskNames, run?.graph, startOrder), [
    taskNames.join("\n"),
    run?.graph,
    startOrder.join("\n"),
  ]);

  if (!run) {
    return (
      <div class="page">
        <div class="page-head">
          <h1>
            Run <span class="mono">{runId}</span>
          </h1>
          <LiveDot state={live} />
        </div>
        <Banner error={error ?? undefined} />
        {!error && <p class="empty">Loading…</p>}
      </div>
    );
  }

  const cancel = async () => {
    setCancelling(true);
    try {
      const snap = await sendJson<RunDetail>(`/runs/${encodeURIComponent(runId)}/cancel`, {});
      // The watch may already have delivered a newer snapshot (the worker can finish the cancel
      // before this answer arrives): never go back from it.
      setRun((old) =>
        old && (_TERMINAL.has(old.status) || (old.updated_at ?? 0) > (snap.updated_at ?? 0))
          ? old
          : { ...old!, ...snap, task_records: old?.task_records ?? {} }
      );
    } catch (err) {
      setError(err);
    } finally {
      setCancelling(false);
    }
  };
  const canCancel = run.status === "PENDING" || run.status === "RUNNING";
  const body: Record<string, unknown> = { flow_name: run.flow_name, params: run.params ?? {} };
  if (run.tag && run.tag !== "default") body.tag = run.tag;
  if (run.tags && run.tags.length > 1) body.tags = run.tags;
  const curl = [
    `curl -s -X POST ${location.origin}/runs`,
    `  -H 'content-type: application/json'`,
    ...(apiKey() ? [`  -H "${API_KEY_HEADER}: $PYOCO_API_KEY"`] : []),
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join(" \\\n");
  const rec = selected ? records[selected] : undefined;
  const took = run.start_time && (run.end_time ?? (terminal.current ? null : now / 1000));
  const logs = events.filter((e) => e.type === "task.log");

  return (
    <div class="page">
      <div class="page-head">
        <h1>
          Run <span class="mono" data-run-id={run.run_id}>{run.run_id}</span>
        </h1>
        <Chip status={run.status} />
        {terminal.current && live === "closed"
          ? <span class="muted">final state</span>
          : <LiveDot state={live} />}
        <div class="spacer" />
        {canCancel && (
          <button type="button" class="btn btn-danger" onClick={cancel} disabled={cancelling}>
            {cancelling ? "Cancelling…" : "Cancel run"}
          </button>
        )}
        <a
          class="btn"
          href={`#/submit?flow=${encodeURIComponent(run.flow_name)}&params=${
            encodeURIComponent(JSON.stringify(run.params ?? {}))
          }&tag=${encodeURIComponent(run.tag ?? "")}`}
        >
          Submit again
        </a>
      </div>
      <Banner error={error ?? undefined} />
      {run.error && (
        <div class="banner banner-error" role="status">
          <span>{run.error}</span>
        </div>
      )}
      <dl class="facts">
        <div>
          <dt>Flow</dt>
          <dd>
            <a href={`#/runs?flow=${encodeURIComponent(run.flow_name)}`}>{run.flow_name}</a>
          </dd>
        </div>
        <div>
          <dt>Tag</dt>
          <dd>{(run.tags?.length ? run.tags : [run.tag ?? "—"]).join(", ")}</dd>
        </div>
        <div>
          <dt>Worker</dt>
          <dd>
            <span class="mono">{run.worker_id ?? "—"}</span>
            {run.worker_alive === true && <span class="muted sep">· alive</span>}
            {run.worker_alive === false && <span class="warn-text sep">· not alive</span>}
          </dd>
        </div>
        <div>
          <dt>Submitted</dt>
          <dd>{clock(run.submitted_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{took ? duration((took - run.start_time!) * 1000) : "—"}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>{age(run.updated_at, now)} ago</dd>
        </div>
        {run.attempt != null && run.attempt > 1 && (
          <div>
            <dt>Delivery</dt>
            <dd>{run.attempt}</dd>
          </div>
        )}
        {run.replayed_from != null && (
          <div>
            <dt>Replayed from</dt>
            <dd>
              <a href="#/dlq">dead letter #{run.replayed_from}</a>
            </dd>
          </div>
        )}
      </dl>

      <div class="grid-2">
        <Panel
          title="Task graph"
          class="panel-wide"
          actions={
            <ul class="legend" aria-label="Legend">
              {_STATES.map((s) => (
                <li key={s}>
                  <Chip status={s} />
                </li>
              ))}
            </ul>
          }
        >
          {taskNames.length === 0
            ? <p class="empty">No task has been reported yet.</p>
            : (
              <div class="dag-wrap">
                <DagView
                  layout={layout}
                  states={run.tasks ?? {}}
                  records={records}
                  selected={selected}
                  onSelect={setSelected}
                />
              </div>
            )}
          {!layout.hasEdges && taskNames.length > 0 && (
            <p class="hint">
              Dependencies are not known for this run: tasks are shown in start order.
            </p>
          )}
          {run.task_records_truncated && (
            <p class="hint">Task records were shortened to fit the snapshot size limit.</p>
          )}
        </Panel>
        <Panel title={selected ? `Task ${selected}` : "Task"}>
          {!selected && <p class="empty">Select a task in the graph to see its record.</p>}
          {selected && (
            <div class="task-record" data-task-record={selected}>
              <dl class="facts facts-tight">
                <div>
                  <dt>State</dt>
                  <dd>
                    <Chip status={run.tasks?.[selected] ?? "PENDING"} />
                  </dd>
                </div>
                <div>
                  <dt>Attempts</dt>
                  <dd>{rec?.attempts ?? 0}</dd>
                </div>
                <div>
                  <dt>Duration</dt>
                  <dd>{duration(rec?.duration_ms)}</dd>
                </div>
                <div>
                  <dt>Started</dt>
                  <dd>{clock(rec?.started_at)}</dd>
                </div>
              </dl>
              {rec?.error && (
                <>
                  <h3>Error</h3>
                  <p class="banner banner-error">{rec.error}</p>
                  {rec.traceback && (
                    <details>
                      <summary>Traceback</summary>
                      <pre class="json">{rec.traceback}</pre>
                    </details>
                  )}
                </>
              )}
              <h3>Output</h3>
              <Json value={rec?.output ?? null} label={`Output of ${selected}`} />
              <h3>Input</h3>
              <Json value={rec?.inputs ?? null} label={`Input of ${selected}`} />
            </div>
          )}
        </Panel>
      </div>

      <Panel
        title="Logs"
        actions={<span class="muted">{logs.length} lines · {events.length} events</span>}
      >
        <Log events={events} />
      </Panel>

      <div class="grid-2">
        <Panel title="Params">
          <Json value={run.params ?? {}} label="Params" />
        </Panel>
        <Panel title="Outputs">
          {run.outputs ? <Json value={run.outputs} label="Outputs" /> : (
            <p class="empty">
              {_TERMINAL.has(run.status) ? "No outputs." : "Outputs appear when the run ends."}
            </p>
          )}
        </Panel>
      </div>

      <Panel title="Submit again with curl" actions={<CopyButton text={curl} label="Copy curl" />}>
        <pre class="json" aria-label="curl command">{curl}</pre>
        {apiKey() && (
          <p class="hint">
            Set <code>PYOCO_API_KEY</code> to your key first; the dashboard never copies it.
          </p>
        )}
      </Panel>
    </div>
  );
}

function Log(props: { events: RunEvent[] }) {
  const ref = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [props.events.length]);
  if (props.events.length === 0) {
    return <p class="empty">No events yet.</p>;
  }
  return (
    <ol
      class="log"
      ref={ref}
      tabIndex={0}
      aria-label="Run log"
      aria-live="polite"
      aria-relevant="additions"
      onScroll={(e) => {
        const el = e.currentTarget as HTMLOListElement;
        stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
      }}
    >
      {props.events.map((e) => (
        <li key={e.seq} class={`log-${e.type.replace(/\W/g, "-")}`} data-seq={e.seq}>
          <time class="log-ts">{e.ts ? clock(e.ts).slice(11) : ""}</time>
          <span class="log-src">{e.task ?? "run"}</span>
          <span class="log-msg">{_describe(e)}</span>
        </li>
      ))}
    </ol>
  );
}

function _describe(e: RunEvent): string {
  switch (e.type) {
    case "task.log":
      return String(e.message ?? "");
    case "task.started":
      return `started (attempt ${e.attempt ?? 1})`;
    case "task.succeeded":
      return "succeeded";
    case "task.failed":
      return `failed: ${e.error ?? ""}`;
    case "task.retrying":
      return `retrying in ${e.delay_sec ?? "?"} s: ${e.error ?? ""}`;
    case "run.started":
      return "run started";
    case "run.completed":
      return "run completed";
    case "run.failed":
      return `run failed: ${e.error ?? ""}`;
    case "run.cancelled":
      return `run cancelled${e.error ? `: ${e.error}` : ""}`;
    default:
      return e.type;
  }
}
