/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run page's actions: **Cancel** (`POST /runs/{id}/cancel`) while the run is not final,
 * **Retry from failed** (`POST /runs/{id}/retry` with `{"from": "failed"}`, SPEC §15) after a
 * failure or cancellation, which opens the new run, **Delete** (`DELETE /runs/{id}`) of a final
 * run after a second click, and **Submit again** (the submit form, prefilled with flow, params,
 * tag and a non-normal priority).
 *
 * @module
 */

import { useState } from "preact/hooks";
import { api, type RunDetail, sendJson } from "../api.ts";
import { namedPriority } from "../format.ts";
import { navigate } from "../hooks.ts";
import { isFinal } from "../use_run.ts";

/** Props of {@linkcode RunActions}. */
export interface RunActionsProps {
  /** The run. */
  run: RunDetail;
  /** Take the cancel answer (a snapshot). */
  onCancelled: (snap: RunDetail) => void;
  /** Show an action's error (the gateway's body: detail and err_id). */
  onError: (err: unknown) => void;
}

/**
 * The action buttons of a run.
 *
 * @param props The run and the callbacks.
 * @returns The buttons.
 */
export function RunActions(props: RunActionsProps) {
  const { run } = props;
  const [busy, setBusy] = useState<"" | "cancel" | "retry" | "delete">("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const id = encodeURIComponent(run.run_id);
  const act = async (what: "cancel" | "retry" | "delete", fn: () => Promise<void>) => {
    setBusy(what);
    props.onError(null);
    try {
      await fn();
    } catch (err) {
      props.onError(err);
    } finally {
      setBusy("");
    }
  };
  const cancel = () =>
    act("cancel", async () => {
      props.onCancelled(await sendJson<RunDetail>(`/runs/${id}/cancel`, {}));
    });
  const retry = () =>
    act("retry", async () => {
      const res = await sendJson<{ run_id: string }>(`/runs/${id}/retry`, { from: "failed" });
      navigate(`/runs/${encodeURIComponent(res.run_id)}`);
    });
  const remove = () =>
    act("delete", async () => {
      await api(`/runs/${id}`, { method: "DELETE" });
      navigate("/runs", { deleted: run.run_id });
    });
  const final = isFinal(run.status);
  const canRetry = run.status === "FAILED" || run.status === "CANCELLED";
  const priority = namedPriority(run.priority);
  const again = `#/submit?flow=${encodeURIComponent(run.flow_name)}&params=${
    encodeURIComponent(JSON.stringify(run.params ?? {}))
  }&tag=${encodeURIComponent(run.tag ?? "")}${priority ? `&priority=${priority}` : ""}`;

  return (
    <div class="actions" role="group" aria-label="Run actions">
      {(run.status === "PENDING" || run.status === "RUNNING") && (
        <button type="button" class="btn btn-danger" onClick={cancel} disabled={busy !== ""}>
          {busy === "cancel" ? "Cancelling…" : "Cancel run"}
        </button>
      )}
      {canRetry && (
        <button
          type="button"
          class="btn btn-primary"
          onClick={retry}
          disabled={busy !== ""}
          title="A new run of this flow and params: the tasks that succeeded keep their outputs, only the failed, cancelled and unstarted ones run"
        >
          {busy === "retry" ? "Retrying…" : "Retry from failed"}
        </button>
      )}
      <a class="btn" href={again}>Submit again</a>
      {final && !confirmDelete && (
        <button
          type="button"
          class="btn"
          onClick={() => setConfirmDelete(true)}
        >
          Delete
        </button>
      )}
      {final && confirmDelete && (
        <span class="confirm" role="group" aria-label="Confirm delete">
          <span>Delete this run, its events and its idempotency claim?</span>
          <button
            type="button"
            class="btn btn-danger"
            onClick={remove}
            disabled={busy !== ""}
          >
            {busy === "delete" ? "Deleting…" : "Yes, delete"}
          </button>
          <button type="button" class="btn" onClick={() => setConfirmDelete(false)}>
            Keep
          </button>
        </span>
      )}
    </div>
  );
}
