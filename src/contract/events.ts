/**
 * Run events on the wire: what the worker publishes on `pyoco.events.<run_id>`, what
 * `GET /runs/{id}/events` answers and what `event` frames of the watch stream carry. One shape
 * for the gateway, the client and the dashboard.
 *
 * @module
 */

/**
 * One stored event of a run: the JSON object the worker published plus its stream sequence
 * (`GET /runs/{id}/events`, or `event` frames of `GET /runs/{id}/watch`). A payload that is not
 * a JSON object is kept as text: `{ seq, type: "unknown", data }`.
 */
export interface RunEvent {
  /** Position in the events stream; pass it as `afterSeq` / `after_seq` to read what follows. */
  seq: number;
  /**
   * `run.started`, `task.started`, `task.succeeded`, `task.failed`, `task.retrying`, `task.log`,
   * `run.completed`, `run.failed`, `run.cancelled`, `events.dropped` (or `unknown`).
   */
  type: string;
  /** The run. */
  run_id?: string;
  /** When it happened (unix seconds). */
  ts?: number;
  /** The task, for `task.*` events. */
  task?: string;
  /** The task attempt (1-based), for `task.*` events. */
  attempt?: number;
  /** The line a task logged with `ctx.log()` (`task.log`). */
  message?: string;
  /** Why it failed (`task.failed`, `task.retrying`, `run.failed`, `run.cancelled`). */
  error?: string | null;
  /** Any other field the worker published. */
  [field: string]: unknown;
}
