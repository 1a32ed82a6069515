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
import { API_KEY_HEADER, apiKey, type RunDetail } from "../api.ts";
import { Banner, Chip, CopyButton, Json, LiveDot, Panel, RunLink } from "../components.tsx";
import { age, clock, duration, shellQuote } from "../format.ts";
import { useNow } from "../hooks.ts";
import { isFinal, useCatalogFlow, useRun } from "../use_run.ts";
import { RunActions } from "./run_actions.tsx";
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
  const body: Record<string, unknown> = { flow_name: run.flow_name, params: run.params ?? {} };
  if (run.tag && run.tag !== "default") body.tag = run.tag;
  if (run.tags && run.tags.length > 1) body.tags = run.tags;
  const curl = [
    `curl -s -X POST ${location.origin}/runs`,
    `  -H 'content-type: application/json'`,
    ...(apiKey() ? [`  -H "${API_KEY_HEADER}: $PYOCO_API_KEY"`] : []),
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join(" \\\n");
  const final = isFinal(run.status);
  const took = run.start_time && (run.end_time ?? (final ? null : now / 1000));
  const logs = events.filter((e) => e.type === "task.log");
  // A deliberate cancellation is not an error: its message shows as a notice, not in red.
  const errorKind = run.status === "CANCELLED" || run.status === "CANCELLING" ? "warn" : "error";

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
      {run.status === "PENDING" && run.waiting_reason && (
        <div class="banner banner-warn" role="status" data-waiting-reason>
          <span>Waiting: {run.waiting_reason}</span>
        </div>
      )}
      {run.error && (
        <div class={`banner banner-${errorKind}`} role="status" data-run-error={errorKind}>
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
        {run.retry_of && (
          <div>
            <dt>Retry of</dt>
            <dd>
              <RunLink id={run.retry_of} />
            </dd>
          </div>
        )}
        {run.scheduled_for != null && (
          <div>
            <dt>Scheduled for</dt>
            <dd>{clock(run.scheduled_for)}</dd>
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
