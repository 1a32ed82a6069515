/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Talking to the gateway from the browser: the API key (kept in session storage and sent as a
 * header), JSON calls that turn error bodies into {@linkcode ApiError}s, and the wire shapes the
 * pages read. Web APIs only.
 *
 * @module
 */

import type {
  DlqMessage,
  RunSnapshot,
  RunSummary,
  RunView,
  SubmitResponse,
  WorkerRecord,
} from "../../contract/wire.ts";
import type { FlowView } from "../../contract/catalog.ts";
import type { RunEvent } from "../../contract/events.ts";
import type { DeadLetter } from "../../contract/views.ts";
import type { WorkerView } from "../../contract/workers.ts";

export type {
  DeadLetter,
  DlqMessage,
  FlowView,
  RunEvent,
  RunSnapshot,
  RunSummary,
  RunView,
  SubmitResponse,
  WorkerRecord,
  WorkerView,
};

/**
 * Header that carries the API key: the gateway's `PYOCO_HTTP_API_KEY_HEADER`, which it writes
 * into the index page's `<meta name="pyoco-api-key-header">` (default `X-API-Key`).
 */
export const API_KEY_HEADER: string =
  (typeof document === "undefined"
    ? null
    : document.querySelector('meta[name="pyoco-api-key-header"]')?.getAttribute("content")) ||
  "X-API-Key";

const _KEY_STORAGE = "pyoco.apiKey";

/**
 * One entry of `GET /dlq`: the shared {@linkcode DeadLetter} shape, with the runs it was
 * replayed as (`replayed_as`, SPEC §15; absent on older gateways).
 */
export type DlqEntry = DeadLetter;

/**
 * A run as the run page reads it (`graph`: the flow's DSL, from the worker), with the fields of
 * SPEC §12 and §15 that older gateways leave out: why a PENDING run waits (`waiting_reason`) and
 * the run it retries (`retry_of`).
 */
export type RunDetail = RunView & { waiting_reason?: string | null; retry_of?: string | null };

/**
 * A schedule as `GET /schedules` shows it (SPEC §14): the fields the schedules page reads.
 * Declared here, not imported from the gateway's side, because the page depends only on the wire.
 */
export interface ScheduleItem {
  /** Schedule id. */
  schedule_id: string;
  /** Flow every run runs. */
  flow_name: string;
  /** Tag of every run. */
  tag: string;
  /** Params of every run. */
  params: Record<string, unknown>;
  /** Priority of every run (`high`, `normal` or `low`; absent from gateways before SPEC §13). */
  priority?: string;
  /** `cron`, `interval` or `once`. */
  schedule_type: string;
  /** Cron expression, when the rule is one. */
  cron: string | null;
  /** Time zone of `cron`. */
  timezone: string | null;
  /** Seconds between slots, for an interval rule. */
  interval_seconds: number | null;
  /** The one slot of a one-shot schedule (unix seconds). */
  run_at: number | null;
  /** `skip`, `allow` or `buffer_one`. */
  overlap: string;
  /** Paused schedules make no runs. */
  paused: boolean;
  /** `ACTIVE` or `COMPLETED`. */
  status: string;
  /** The next slot (unix seconds), `null` when none is left. */
  next_run_at: number | null;
  /** The last run it submitted. */
  last_run_id: string | null;
  /** That run's status. */
  last_status: string | null;
  /** Last dispatch error. */
  last_error: string | null;
  /** Slots not run (missed or skipped by the overlap policy). */
  skipped_slots: number;
  /** Runs submitted so far. */
  dispatch_count: number;
}

/** One row of `GET /schedules/{id}/runs`, newest first. */
export interface ScheduleRunItem {
  /** Run id. */
  run_id: string;
  /** Its slot, or the trigger time of a manual trigger (unix seconds). */
  scheduled_for: number;
  /** When it was submitted (unix seconds). */
  submitted_at: number;
  /** `true` for "Trigger now". */
  manual?: boolean;
  /** The run's status now, `null` when the run is gone. */
  status: string | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/** A failed gateway call: HTTP status plus the gateway's error body when there was one. */
export class ApiError extends Error {
  /** HTTP status (0 when the gateway could not be reached). */
  readonly status: number;
  /** `ERR-PYOCO-00NN`, when the gateway sent one. */
  readonly errId: string | null;
  /** Validation problems, when the gateway sent them. */
  readonly errors: { path: string; message: string }[];

  /**
   * Create the error.
   *
   * @param status HTTP status (0: unreachable).
   * @param message The human message.
   * @param errId The gateway's error id.
   * @param errors Validation problems.
   */
  constructor(
    status: number,
    message: string,
    errId: string | null = null,
    errors: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errId = errId;
    this.errors = errors;
  }
}

type _Listener = () => void;
const _listeners = new Set<_Listener>();
let _authProblem: ApiError | null = null;

/** The stored API key, or `null`. */
export function apiKey(): string | null {
  try {
    return sessionStorage.getItem(_KEY_STORAGE);
  } catch {
    return null;
  }
}

/**
 * Store (or, with `null`, forget) the API key for this browser tab and clear the auth problem.
 *
 * @param key The key text.
 */
export function setApiKey(key: string | null): void {
  try {
    if (key === null || key.trim() === "") sessionStorage.removeItem(_KEY_STORAGE);
    else sessionStorage.setItem(_KEY_STORAGE, key.trim());
  } catch { /* storage disabled: the key lives for this page only */ }
  _authProblem = null;
  _emit();
}

/** The last 401/403 answer, until a key is saved. */
export function authProblem(): ApiError | null {
  return _authProblem;
}

/**
 * Be told when the key or the auth problem changes.
 *
 * @param fn The listener.
 * @returns A function that removes it.
 */
export function onAuthChange(fn: _Listener): () => void {
  _listeners.add(fn);
  return () => _listeners.delete(fn);
}

function _emit(): void {
  for (const fn of [..._listeners]) fn();
}

/**
 * Record a 401/403 so the app asks for a key.
 *
 * @param err The error.
 */
export function reportAuthProblem(err: ApiError): void {
  if (err.status !== 401 && err.status !== 403) return;
  if (_authProblem?.status === err.status && _authProblem.errId === err.errId) return;
  _authProblem = err;
  _emit();
}

/**
 * Request headers with the API key (when one is stored).
 *
 * @param extra More headers.
 * @returns The headers.
 */
export function authHeaders(extra: Record<string, string> = {}): Headers {
  const headers = new Headers(extra);
  const key = apiKey();
  if (key !== null) headers.set(API_KEY_HEADER, key);
  return headers;
}

/**
 * Turn a non-2xx response into an {@linkcode ApiError} (and report 401/403).
 *
 * @param res The response.
 * @returns The error.
 */
export async function errorOf(res: Response): Promise<ApiError> {
  let detail = `${res.status} ${res.statusText}`.trim();
  let errId: string | null = null;
  let errors: { path: string; message: string }[] = [];
  try {
    const body = await res.json();
    if (typeof body?.detail === "string") detail = body.detail;
    if (typeof body?.err_id === "string") errId = body.err_id;
    if (Array.isArray(body?.errors)) errors = body.errors;
  } catch { /* not JSON */ }
  const err = new ApiError(res.status, detail, errId, errors);
  reportAuthProblem(err);
  return err;
}

/**
 * Call the gateway and parse the JSON answer.
 *
 * @param path Path and query (`/runs?limit=5`).
 * @param init Method, body and more headers.
 * @returns The parsed body.
 * @throws {ApiError} On a non-2xx answer or when the gateway cannot be reached.
 */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = authHeaders();
  new Headers(init.headers).forEach((v, k) => headers.set(k, v));
  if (!headers.has("accept")) headers.set("accept", "application/json");
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers });
  } catch (err) {
    throw new ApiError(0, `Cannot reach the gateway: ${(err as Error).message}`);
  }
  if (!res.ok) throw await errorOf(res);
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) return await res.json() as T;
  return await res.text() as T;
}

/**
 * POST a JSON body.
 *
 * @param path The path.
 * @param body The value to send.
 * @param method The method.
 * @returns The parsed answer.
 * @throws {ApiError} On a non-2xx answer.
 */
export function sendJson<T>(path: string, body: unknown, method = "POST"): Promise<T> {
  return api<T>(path, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Why a call failed, in words for the screen. */
export function explain(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) {
      return "This gateway requires an API key: enter one with the key button (top right).";
    }
    if (err.status === 403) {
      return "The API key was refused: it is invalid or has been revoked. Enter another key.";
    }
    if (err.status === 503) return `The gateway cannot reach NATS right now: ${err.message}`;
    const where = err.errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return where ? `${err.message} (${where})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Parse Prometheus text into samples.
 *
 * @param text The `/metrics` body.
 * @returns Samples with their name, labels and value.
 */
export function parseMetrics(
  text: string,
): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
