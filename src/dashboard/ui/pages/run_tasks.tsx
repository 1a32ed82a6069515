/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run page's task panels: the graph and the timeline (Gantt) as two tabs of one panel, and
 * the selected task's record. The graph comes from the snapshot's `graph` or, before a worker
 * wrote one (a PENDING run), from the flow catalog; a run that ended before any task started
 * says why instead of showing an empty graph.
 *
 * @module
 */

import { useMemo, useState } from "preact/hooks";
import type { TaskRecord } from "../../../flow/types.ts";
import type { FlowView, RunDetail } from "../api.ts";
import { Chip, Json, Panel } from "../components.tsx";
import { layoutDag } from "../dag.ts";
import { DagFrame } from "../dag_view.tsx";
import { clock, duration } from "../format.ts";
import { layoutGantt } from "../gantt.ts";
import { GanttView } from "../gantt_view.tsx";
import { isFinal } from "../use_run.ts";

const _STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];

/** Props of {@linkcode TasksPanel}. */
export interface TasksPanelProps {
  /** The run. */
  run: RunDetail;
  /** The flow's catalog entry, for a run without `graph`. */
  catalog: FlowView | null;
  /** The current time (ms), for running bars. */
  now: number;
  /** The selected task. */
  selected: string | null;
  /** Select a task. */
  onSelect: (name: string) => void;
}

/**
 * The graph and timeline tabs.
 *
 * @param props The run, its catalog entry and the selection.
 * @returns The panel.
 */
export function TasksPanel(props: TasksPanelProps) {
  const { run, catalog } = props;
  const [tab, setTab] = useState<"graph" | "timeline">("graph");
  const graph = run.graph ?? catalog?.graph ?? null;
  const states = run.tasks ?? {};
  const records = run.task_records ?? {};
  const names = useMemo(
    () => [...new Set([...(run.graph ? [] : catalog?.tasks ?? []), ...Object.keys(states)])],
    [states, catalog, run.graph],
  );
  const startOrder = useMemo(
    () =>
      Object.entries(records)
        .filter(([, r]) => r.started_at != null)
        .sort((a, b) => (a[1].started_at ?? 0) - (b[1].started_at ?? 0))
        .map(([name]) => name),
    [records],
  );
  const layout = useMemo(() => layoutDag(names, graph, startOrder), [
    names.join("\n"),
    graph,
    startOrder.join("\n"),
  ]);
  const gantt = useMemo(
    () =>
      layoutGantt(records, {
        states,
        order: layout.nodes.map((n) => n.name),
        nowSec: isFinal(run.status) ? (run.end_time ?? props.now / 1000) : props.now / 1000,
      }),
    [records, states, layout, run.status, props.now],
  );
  const tabButton = (id: "graph" | "timeline", label: string) => (
    <button
      type="button"
      role="tab"
      id={`tab-${id}`}
      class={`tab ${tab === id ? "tab-on" : ""}`}
      aria-selected={tab === id}
      aria-controls={`tabpanel-${id}`}
      onClick={() => setTab(id)}
    >
      {label}
    </button>
  );
  return (
    <Panel
      title="Tasks"
      class="panel-wide"
      actions={
        <>
          <div class="tabs" role="tablist" aria-label="Task view">
            {tabButton("graph", "Graph")}
            {tabButton("timeline", "Timeline")}
          </div>
          <ul class="legend" aria-label="Legend">
            {_STATES.map((s) => (
              <li key={s}>
                <Chip status={s} />
              </li>
            ))}
          </ul>
        </>
      }
    >
      <div id={`tabpanel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {names.length === 0 ? <NoTasks run={run} /> : tab === "graph"
          ? (
            <>
              <DagFrame
                layout={layout}
                states={states}
                records={records}
                selected={props.selected}
                onSelect={props.onSelect}
              />
              {!run.graph && catalog && (
                <p class="hint">
                  Graph from the flow catalog: no worker has taken this run yet.
                </p>
              )}
              {!layout.hasEdges && (
                <p class="hint">
                  Dependencies are not known for this run: tasks are shown in start order.
                </p>
              )}
            </>
          )
          : <GanttView layout={gantt} selected={props.selected} onSelect={props.onSelect} />}
        {run.task_records_truncated && (
          <p class="hint">Task records were shortened to fit the snapshot size limit.</p>
        )}
      </div>
    </Panel>
  );
}

function NoTasks(props: { run: RunDetail }) {
  const { run } = props;
  if (isFinal(run.status)) {
    const how = run.status === "CANCELLED"
      ? "was cancelled"
      : run.status === "FAILED"
      ? "failed"
      : "ended";
    return (
      <p class="empty run-no-tasks" data-no-tasks="final">
        The run {how} before any task started{run.error ? `: ${run.error}` : "."}
      </p>
    );
  }
  if (run.status === "PENDING") {
    return (
      <p class="empty run-no-tasks" data-no-tasks="pending">
        Waiting for a worker to take the run
        {run.waiting_reason ? `: ${run.waiting_reason}` : "."} Its tasks appear when one does.
      </p>
    );
  }
  return <p class="empty" data-no-tasks="running">No task has been reported yet.</p>;
}

/**
 * The selected task's record: state, attempts, timings, error and traceback, output, input.
 *
 * @param props The task, its state and record.
 * @returns The panel.
 */
export function TaskRecordPanel(
  props: { name: string | null; state: string | undefined; record: TaskRecord | undefined },
) {
  const { name, record: rec } = props;
  return (
    <Panel title={name ? `Task ${name}` : "Task"}>
      {!name && <p class="empty">Select a task in the graph or timeline to see its record.</p>}
      {name && (
        <div class="task-record" data-task-record={name}>
          <dl class="facts facts-tight">
            <div>
              <dt>State</dt>
              <dd>
                <Chip status={props.state ?? "PENDING"} />
                {rec?.reused && <span class="muted sep">reused</span>}
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
              <h3>{props.state === "CANCELLED" ? "Why it stopped" : "Error"}</h3>
              <p
                class={`banner banner-${props.state === "CANCELLED" ? "warn" : "error"}`}
                data-task-error={props.state === "CANCELLED" ? "warn" : "error"}
              >
                {rec.error}
              </p>
              {rec.traceback && (
                <details>
                  <summary>Traceback</summary>
                  <pre class="json">{rec.traceback}</pre>
                </details>
              )}
            </>
          )}
          <h3>Output</h3>
          <Json value={rec?.output ?? null} label={`Output of ${name}`} />
          <h3>Input</h3>
          <Json value={rec?.inputs ?? null} label={`Input of ${name}`} />
        </div>
      )}
    </Panel>
  );
}
