/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Schedules (SPEC §14): every schedule of the caller's tenant with its rule, next run, last run
 * and skipped slots, and its runs' priority when it is not `normal` (SPEC §13); **Pause** / **Resume** (`PATCH /schedules/{id}` `{paused}`), **Trigger now**
 * (`POST /schedules/{id}/trigger`), and the recent runs of the selected one
 * (`GET /schedules/{id}/runs`). Schedules have no change stream: the page re-reads
 * `GET /schedules` every 10 s while the tab is visible.
 *
 * @module
 */

import { useState } from "preact/hooks";
import { api, ApiError, type ScheduleItem, type ScheduleRunItem, sendJson } from "../api.ts";
import { Banner, Chip, Panel, PriorityBadge, RunLink } from "../components.tsx";
import { age, clock, duration } from "../format.ts";
import { navigate, useNow, usePoll } from "../hooks.ts";

/**
 * The rule of a schedule in words.
 *
 * @param s The schedule.
 * @returns `cron 0 * * * * (UTC)`, `every 5m 00s`, `once at …`.
 */
function _rule(s: ScheduleItem): string {
  if (s.cron) return `cron ${s.cron} (${s.timezone ?? "UTC"})`;
  if (s.interval_seconds) return `every ${_every(s.interval_seconds)}`;
  if (s.run_at) return `once at ${clock(s.run_at)}`;
  return s.schedule_type;
}

function _every(sec: number): string {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]] as const) {
    if (sec >= size && sec % size === 0) return `${sec / size} ${unit}`;
  }
  return `${sec} s`;
}

function _until(ts: number | null, nowMs: number): string {
  if (ts === null) return "";
  const ms = ts * 1000 - nowMs;
  return ms <= 0 ? "due now" : `in ${duration(ms)}`;
}

/**
 * The schedules page.
 *
 * @param props The route query (`id`: the selected schedule).
 * @returns The page.
 */
export function SchedulesPage(props: { query: URLSearchParams }) {
  const selectedId = props.query.get("id") ?? "";
  const now = useNow(1000);
  const [items, setItems] = useState<ScheduleItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [triggered, setTriggered] = useState<{ id: string; run: string } | null>(null);
  const [runsEpoch, setRunsEpoch] = useState(0);

  const load = () => {
    api<ScheduleItem[]>("/schedules")
      .then((list) => {
        setItems(list);
        setError(null);
        setMissing(false);
      })
      .catch((err) => {
        if (err instanceof ApiError && err.status === 404) setMissing(true);
        else setError(err);
      });
  };
  usePoll(load, 10_000, []);

  const act = async (s: ScheduleItem, fn: () => Promise<void>) => {
    setBusy(s.schedule_id);
    try {
      await fn();
      setError(null);
      load();
      setRunsEpoch((n) => n + 1);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const setPaused = (s: ScheduleItem, paused: boolean) =>
    act(s, async () => {
      await sendJson(`/schedules/${encodeURIComponent(s.schedule_id)}`, { paused }, "PATCH");
    });
  const trigger = (s: ScheduleItem) =>
    act(s, async () => {
      const res = await sendJson<{ run_id: string }>(
        `/schedules/${encodeURIComponent(s.schedule_id)}/trigger`,
        {},
      );
      setTriggered({ id: s.schedule_id, run: res.run_id });
      navigate("/schedules", { id: s.schedule_id }, true);
    });
  const selected = items?.find((s) => s.schedule_id === selectedId) ?? null;

  return (
    <div class="page">
      <div class="page-head">
        <h1>Schedules</h1>
        <span class="muted">refreshed every 10 s</span>
      </div>
      <Banner error={error ?? undefined} />
      {missing && (
        <Banner kind="info">
          This gateway has no schedules API (<code>GET /schedules</code> answered 404).
        </Banner>
      )}
      {triggered && (
        <Banner kind="ok">
          Triggered: run <RunLink id={triggered.run} /> was submitted.
        </Banner>
      )}
      <div class="table-wrap">
        <table class="table">
          <caption class="sr-only">Schedules, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Flow</th>
              <th scope="col" class="col-opt">Rule</th>
              <th scope="col" class="col-wide">Tag</th>
              <th scope="col">Next run</th>
              <th scope="col" class="col-opt">Last run</th>
              <th scope="col" class="col-wide num">Skipped</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(items ?? []).map((s) => (
              <ScheduleRow
                key={s.schedule_id}
                schedule={s}
                selected={s.schedule_id === selectedId}
                busy={busy === s.schedule_id}
                now={now}
                onPause={(paused) => setPaused(s, paused)}
                onTrigger={() => trigger(s)}
              />
            ))}
          </tbody>
        </table>
        {items !== null && items.length === 0 && (
          <p class="empty">
            No schedules yet. Create one with <code>pyoco schedule create</code> or{" "}
            <code>POST /schedules</code>.
          </p>
        )}
      </div>
      {selected && (
        <ScheduleRuns
          key={`${selected.schedule_id}:${runsEpoch}`}
          schedule={selected}
        />
      )}
    </div>
  );
}

function ScheduleRow(props: {
  schedule: ScheduleItem;
  selected: boolean;
  busy: boolean;
  now: number;
  onPause: (paused: boolean) => void;
  onTrigger: () => void;
}) {
  const s = props.schedule;
  return (
    <tr
      data-schedule-id={s.schedule_id}
      data-paused={String(s.paused)}
      class={props.selected ? "row-selected" : undefined}
    >
      <td>
        <Chip status={s.status === "ACTIVE" && s.paused ? "PAUSED" : s.status} />
      </td>
      <td class="cell-wrap">
        <a
          href={`#/schedules?id=${encodeURIComponent(s.schedule_id)}`}
          title={`Schedule ${s.schedule_id}: show its recent runs`}
        >
          {s.flow_name}
        </a>
        <PriorityBadge priority={s.priority} />
      </td>
      <td class="col-opt mono">{_rule(s)}</td>
      <td class="col-wide">{s.tag}</td>
      <td title={s.next_run_at ? clock(s.next_run_at) : undefined}>
        {s.paused
          ? <span class="muted">paused</span>
          : s.next_run_at === null
          ? <span class="muted">none</span>
          : _until(s.next_run_at, props.now)}
      </td>
      <td class="col-opt">
        <RunLink id={s.last_run_id} /> {s.last_status && <Chip status={s.last_status} />}
      </td>
      <td class="col-wide num">{s.skipped_slots}</td>
      <td class="cell-actions">
        <div class="actions actions-end">
          <button
            type="button"
            class="btn btn-small"
            disabled={props.busy || s.status !== "ACTIVE"}
            onClick={() => props.onPause(!s.paused)}
            aria-label={`${s.paused ? "Resume" : "Pause"} schedule ${s.schedule_id}`}
          >
            {s.paused ? "Resume" : "Pause"}
          </button>
          <button
            type="button"
            class="btn btn-small"
            disabled={props.busy}
            onClick={props.onTrigger}
            aria-label={`Trigger schedule ${s.schedule_id} now`}
          >
            Trigger now
          </button>
        </div>
      </td>
    </tr>
  );
}

function ScheduleRuns(props: { schedule: ScheduleItem }) {
  const s = props.schedule;
  const now = useNow(5000);
  const [runs, setRuns] = useState<ScheduleRunItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  usePoll(
    () => {
      api<ScheduleRunItem[]>(`/schedules/${encodeURIComponent(s.schedule_id)}/runs?limit=20`)
        .then((r) => {
          setRuns(r);
          setError(null);
        })
        .catch(setError);
    },
    10_000,
    [s.schedule_id],
  );
  return (
    <Panel title={`Recent runs of ${s.flow_name}`} class="sub-panel">
      <p class="hint">
        Schedule <span class="mono">{s.schedule_id}</span> · {_rule(s)} · overlap {s.overlap} ·{" "}
        {s.dispatch_count} runs so far{s.last_error ? ` · last error: ${s.last_error}` : ""}
      </p>
      <Banner error={error ?? undefined} />
      {runs !== null && runs.length === 0 && <p class="empty">No runs yet.</p>}
      {runs !== null && runs.length > 0 && (
        <table class="table table-compact" data-schedule-runs={s.schedule_id}>
          <caption class="sr-only">Recent runs of the schedule, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Run</th>
              <th scope="col">For</th>
              <th scope="col" class="col-opt">How</th>
              <th scope="col" class="col-opt">Error</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.run_id} data-run-id={r.run_id}>
                <td>
                  <Chip status={r.status ?? "GONE"} />
                </td>
                <td>
                  <RunLink id={r.run_id} />
                </td>
                <td title={clock(r.scheduled_for)}>{age(r.scheduled_for, now)} ago</td>
                <td class="col-opt">{r.manual ? "triggered" : "slot"}</td>
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
      )}
    </Panel>
  );
}
