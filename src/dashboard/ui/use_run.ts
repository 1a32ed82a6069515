/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run page's data: the live run (`GET /runs/{id}/watch?include=records&events=1`, plus the
 * worker fields of `GET /runs/{id}`), its events (with the tail read from `GET /runs/{id}/events`
 * after the final snapshot), and the flow's catalog entry (`GET /flows/{tag}/{name}`, SPEC §12)
 * that gives a PENDING run its graph before a worker writes one.
 *
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import { api, type FlowView, type RunDetail, type RunEvent } from "./api.ts";
import { openStream, type StreamState } from "./sse.ts";

const _TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const _MAX_EVENTS = 2000;

/**
 * Whether a run status is final.
 *
 * @param status The status.
 * @returns `true` for `COMPLETED`, `FAILED` and `CANCELLED`.
 */
export function isFinal(status: string | null | undefined): boolean {
  return _TERMINAL.has(status ?? "");
}

/** What {@linkcode useRun} gives the run page. */
export interface RunState {
  /** The run, `null` until the first snapshot or `GET` answers. */
  run: RunDetail | null;
  /** Replace the run (after a cancel answer). */
  setRun: (fn: (old: RunDetail | null) => RunDetail | null) => void;
  /** Events in order (at most the newest 2000). */
  events: RunEvent[];
  /** The last load or stream error. */
  error: unknown;
  /** Show an error (of an action). */
  setError: (err: unknown) => void;
  /** The stream's state. */
  live: StreamState;
}

/**
 * Follow a run live.
 *
 * @param runId The run id.
 * @returns The run, its events and the stream state.
 */
export function useRun(runId: string): RunState {
  const [run, setRun] = useState<RunDetail | null>(null);
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState<StreamState>("connecting");
  const lastSeq = useRef(0);
  const terminal = useRef(false);

  useEffect(() => {
    const id = encodeURIComponent(runId);
    const addEvents = (items: RunEvent[]) => {
      const fresh = items.filter((e) => e.seq > lastSeq.current);
      if (fresh.length === 0) return;
      lastSeq.current = fresh[fresh.length - 1]!.seq;
      setEvents((old) => [...old, ...fresh].slice(-_MAX_EVENTS));
    };
    // Events published after the terminal snapshot are read with GET /runs/{id}/events.
    const tail = async () => {
      for (let i = 0; i < 5; i++) {
        try {
          const page = await api<{ events: RunEvent[] }>(
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
        if (s === "closed" && terminal.current) void tail();
      },
      onFrame: (f) => {
        if (f.event === "snapshot") {
          const snap = JSON.parse(f.data) as RunDetail;
          terminal.current = isFinal(snap.status);
          // waiting_reason is absent once the run no longer waits: do not keep the old one.
          setRun((old) => ({ ...old, waiting_reason: null, ...snap }));
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
        waiting_reason: old ? old.waiting_reason : view.waiting_reason,
      }))
    ).catch((err) => setError(err));
    return stop;
  }, [runId]);

  return { run, setRun, events, error, setError, live };
}

/**
 * The catalog entry of a run's flow, for runs whose snapshot has no `graph` yet (a PENDING run:
 * the worker writes the graph with RUNNING). `null` while unknown, when the gateway has no
 * catalog (404) or for a flow.yaml run, whose flow is not the catalog's.
 *
 * @param run The run.
 * @returns The flow as the catalog shows it, or `null`.
 */
export function useCatalogFlow(run: RunDetail | null): FlowView | null {
  const [flow, setFlow] = useState<FlowView | null>(null);
  const wanted = run && !run.graph && !run.workflow_yaml_sha256
    ? `/flows/${encodeURIComponent(run.tag ?? "default")}/${encodeURIComponent(run.flow_name)}`
    : null;
  useEffect(() => {
    if (wanted === null) return;
    let gone = false;
    api<FlowView>(wanted)
      .then((f) => {
        if (!gone && typeof f?.graph === "string") setFlow(f);
      })
      .catch(() => {/* no catalog, or the flow is not in it: the page does without */});
    return () => {
      gone = true;
    };
  }, [wanted]);
  return wanted === null ? null : flow;
}
