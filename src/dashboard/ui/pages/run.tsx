/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * One run: its tasks as a graph or a timeline, coloured by state (live from
 * `GET /runs/{id}/watch?include=records&events=1`), a task's record on click, the run's log lines
 * and events as they arrive, params, outputs, the actions (cancel, retry from failed, delete,
 * submit again), and a curl command that submits the same run again.
 *
 * @module
 */

import { useState } from "preact/hooks";
import type { RunDetail } from "../api.ts";
import { Banner, Chip, Json, LiveDot, Panel } from "../components.tsx";
import { clock } from "../format.ts";
import { useNow } from "../hooks.ts";
import { isFinal, useCatalogFlow, useRun } from "../use_run.ts";
import { RunActions } from "./run_actions.tsx";
import { CurlPanel, RunFacts, RunNotices } from "./run_facts.tsx";
import { RunLog } from "./run_log.tsx";
import { TaskRecordPanel, TasksPanel } from "./run_tasks.tsx";

/**
 * The run page.
 *
 * @param props The run id.
 * @returns The page.
 */
export function RunPage(props: { runId: string }) {
  const { runId } = props;
  const now = useNow(1000);
  const { run, setRun, events, error, setError, live } = useRun(runId);
  const catalog = useCatalogFlow(run);
  const [selected, setSelected] = useState<string | null>(null);

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

  // The watch may already have delivered a newer snapshot than the cancel answer (the worker can
  // finish the cancel before the answer arrives): never go back from it.
  const onCancelled = (snap: RunDetail) =>
    setRun((old) =>
      old && (isFinal(old.status) || (old.updated_at ?? 0) > (snap.updated_at ?? 0))
        ? old
        : { ...old!, ...snap, task_records: old?.task_records ?? {} }
    );
  const final = isFinal(run.status);
  const logs = events.filter((e) => e.type === "task.log");

  return (
    <div class="page">
      <div class="page-head">
        <h1>
          Run <span class="mono" data-run-id={run.run_id}>{run.run_id}</span>
        </h1>
        <Chip status={run.status} />
        {run.schedule_id && (
          <a
            class="badge badge-scheduled"
            href={`#/schedules?id=${encodeURIComponent(run.schedule_id)}`}
            title={`Started by schedule ${run.schedule_id}${
              run.scheduled_for ? ` for ${clock(run.scheduled_for)}` : ""
            }`}
          >
            scheduled
          </a>
        )}
        {final && live === "closed"
          ? <span class="muted">final state</span>
          : <LiveDot state={live} />}
        <div class="spacer" />
        <RunActions run={run} onCancelled={onCancelled} onError={setError} />
      </div>
      <Banner error={error ?? undefined} />
      <RunNotices run={run} />
      <RunFacts run={run} now={now} />

      <div class="grid-2">
        <TasksPanel
          run={run}
          catalog={catalog}
          now={now}
          selected={selected}
          onSelect={setSelected}
        />
        <TaskRecordPanel
          name={selected}
          state={selected ? run.tasks?.[selected] : undefined}
          record={selected ? run.task_records?.[selected] : undefined}
        />
      </div>

      <Panel
        title="Logs"
        actions={<span class="muted">{logs.length} lines · {events.length} events</span>}
      >
        <RunLog events={events} />
      </Panel>

      <div class="grid-2">
        <Panel title="Params">
          <Json value={run.params ?? {}} label="Params" />
        </Panel>
        <Panel title="Outputs">
          {run.outputs ? <Json value={run.outputs} label="Outputs" /> : (
            <p class="empty">
              {final ? "No outputs." : "Outputs appear when the run ends."}
            </p>
          )}
        </Panel>
      </div>

      <CurlPanel run={run} />
    </div>
  );
}
