/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * What a run is, above and below its live panels: the notices (why it waits, why it ended), the
 * facts (flow, tags, worker, times, where it came from: a retry, a schedule, a dead letter), and
 * the curl command that submits the same run again. A run's priority (SPEC §13) is shown, and
 * sent again, only when it is not `normal`.
 *
 * @module
 */

import { API_KEY_HEADER, apiKey, type RunDetail } from "../api.ts";
import { CopyButton, Panel, PriorityBadge, RunLink } from "../components.tsx";
import { age, clock, duration, namedPriority, shellQuote } from "../format.ts";
import { isFinal } from "../use_run.ts";

/**
 * Why a PENDING run waits (`waiting_reason`) and the run's `error`. A deliberate cancellation is
 * not an error: its message is a notice (amber), not red.
 *
 * @param props The run.
 * @returns The notices, or nothing.
 */
export function RunNotices(props: { run: RunDetail }) {
  const { run } = props;
  const errorKind = run.status === "CANCELLED" || run.status === "CANCELLING" ? "warn" : "error";
  return (
    <>
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
    </>
  );
}

/**
 * The run's facts.
 *
 * @param props The run and the current time (ms).
 * @returns The list.
 */
export function RunFacts(props: { run: RunDetail; now: number }) {
  const { run, now } = props;
  const took = run.start_time && (run.end_time ?? (isFinal(run.status) ? null : now / 1000));
  return (
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
      {namedPriority(run.priority) && (
        <div data-fact="priority">
          <dt>Priority</dt>
          <dd>
            <PriorityBadge priority={run.priority} />
          </dd>
        </div>
      )}
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
  );
}

/**
 * A curl command that submits the same flow, params, tags and priority again (with `$PYOCO_API_KEY`, never
 * the key itself).
 *
 * @param props The run.
 * @returns The panel.
 */
export function CurlPanel(props: { run: RunDetail }) {
  const { run } = props;
  const body: Record<string, unknown> = { flow_name: run.flow_name, params: run.params ?? {} };
  if (run.tag && run.tag !== "default") body.tag = run.tag;
  if (run.tags && run.tags.length > 1) body.tags = run.tags;
  const priority = namedPriority(run.priority);
  if (priority) body.priority = priority;
  const curl = [
    `curl -s -X POST ${location.origin}/runs`,
    `  -H 'content-type: application/json'`,
    ...(apiKey() ? [`  -H "${API_KEY_HEADER}: $PYOCO_API_KEY"`] : []),
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join(" \\\n");
  return (
    <Panel title="Submit again with curl" actions={<CopyButton text={curl} label="Copy curl" />}>
      <pre class="json" aria-label="curl command">{curl}</pre>
      {apiKey() && (
        <p class="hint">
          Set <code>PYOCO_API_KEY</code> to your key first; the dashboard never copies it.
        </p>
      )}
    </Panel>
  );
}
