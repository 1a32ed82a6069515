/**
 * The schedule routes of the gateway (SPEC §14), the part of {@linkcode PyocoClient} that
 * creates, lists, changes, pauses, triggers and deletes schedules. `PyocoClient` inherits them
 * from {@linkcode ScheduleMethods}; the run routes are in `client.ts`. Web APIs only.
 *
 * Times (`runAt`, `startAt`, `endAt`) may be unix seconds, a `Date` or an ISO 8601 string.
 *
 * @module
 */

import type {
  OverlapPolicy,
  SchedulePriority,
  ScheduleRunRow,
  ScheduleTriggerResponse,
  ScheduleView,
} from "../contract/schedules.ts";
import type { CallOptions } from "./types.ts";
import { pathSegment as _seg, type Transport } from "./_transport.ts";
import { workflowForm } from "./_query.ts";

/** A time of a schedule: unix seconds, a `Date`, or an ISO 8601 string. */
export type ScheduleTime = number | Date | string;

/** The rule of a schedule: give exactly one of `cron`, `intervalSeconds`, `runAt`. */
export interface ScheduleRuleInput {
  /** Cron expression, 5 fields (minute first) or 6 (second first). */
  cron?: string;
  /** IANA time zone of `cron`. @default {"UTC"} */
  timezone?: string;
  /** Seconds between slots (a whole number ≥ 1). */
  intervalSeconds?: number;
  /** The one slot of a one-shot schedule (in the future). */
  runAt?: ScheduleTime;
  /** No slot before this; the anchor of an interval. */
  startAt?: ScheduleTime;
  /** No slot after this. */
  endAt?: ScheduleTime;
}

/** How the runs of a schedule are made. */
export interface SchedulePolicyInput {
  /** Priority of the runs. @default {"normal"} */
  priority?: SchedulePriority;
  /** While the previous run is not terminal: `skip` the slot, `allow` it, or `buffer_one`. @default {"skip"} */
  overlap?: OverlapPolicy;
  /** How late a missed slot may still run, in seconds (0: missed slots are skipped). @default {0} */
  catchupWindowSec?: number;
}

/** A schedule of a registered flow, for {@linkcode ScheduleMethods.createSchedule}. */
export interface CreateScheduleRequest extends ScheduleRuleInput, SchedulePolicyInput {
  /** Name of a flow the workers registered. */
  flowName: string;
  /** Params of every run. @default {{}} */
  params?: Record<string, unknown>;
  /** Work queue of the runs. @default {the gateway's default tag} */
  tag?: string;
  /** Create it paused. @default {false} */
  paused?: boolean;
}

/** A schedule of a flow.yaml, for {@linkcode ScheduleMethods.createScheduleYaml}. */
export interface CreateScheduleYamlRequest extends ScheduleRuleInput, SchedulePolicyInput {
  /** The flow.yaml text or bytes (stored with the schedule). */
  workflowYaml: string | Uint8Array | Blob;
  /** Name the runs get. */
  flowName: string;
  /** Params overlaid on the YAML's `flow.defaults`. */
  params?: Record<string, unknown>;
  /** Work queue of the runs. @default {the gateway's default tag} */
  tag?: string;
}

/**
 * Changes for {@linkcode ScheduleMethods.updateSchedule} (`PATCH`): only the fields given
 * change; any rule field replaces the whole rule.
 */
export interface UpdateScheduleRequest extends ScheduleRuleInput, SchedulePolicyInput {
  /** Pause (`true`) or resume (`false`). */
  paused?: boolean;
  /** New params of the runs. */
  params?: Record<string, unknown>;
}

/** Options of {@linkcode ScheduleMethods.scheduleRuns}. */
export interface ScheduleRunsOptions extends CallOptions {
  /** At most this many, newest first (1..200). @default {50} */
  limit?: number;
}

const _RULE_KEYS: [string, string][] = [
  ["cron", "cron"],
  ["timezone", "timezone"],
  ["intervalSeconds", "interval_seconds"],
  ["runAt", "run_at"],
  ["startAt", "start_at"],
  ["endAt", "end_at"],
  ["priority", "priority"],
  ["overlap", "overlap"],
  ["catchupWindowSec", "catchup_window_sec"],
  ["paused", "paused"],
  ["params", "params"],
  ["tag", "tag"],
];

const _TIME_KEYS = new Set(["runAt", "startAt", "endAt"]);

/**
 * The wire fields (snake_case) of a request's given fields; times as unix seconds or ISO text.
 *
 * @param request The camelCase request.
 * @returns The JSON body fields.
 * @throws {TypeError} When a time is an invalid `Date`.
 */
export function scheduleFields(request: object): Record<string, unknown> {
  const given = request as Record<string, unknown>;
  const body: Record<string, unknown> = {};
  for (const [key, wire] of _RULE_KEYS) {
    const value = given[key];
    if (value === undefined) continue;
    body[wire] = _TIME_KEYS.has(key) ? _time(key, value as ScheduleTime) : value;
  }
  return body;
}

function _time(key: string, value: ScheduleTime): number | string {
  if (!(value instanceof Date)) return value;
  const ms = value.getTime();
  if (Number.isNaN(ms)) throw new TypeError(`Invalid schedule option "${key}": an invalid Date`);
  return ms / 1000;
}

/**
 * The schedule routes (`/schedules`, SPEC §14). Use them through {@linkcode PyocoClient}, which
 * inherits them. Every route is tenant-scoped: another tenant's schedule answers 404.
 *
 * @example Run "report" every day at 06:00 in Tokyo, then pause it
 * ```ts ignore
 * const s = await client.createSchedule({
 *   flowName: "report",
 *   cron: "0 6 * * *",
 *   timezone: "Asia/Tokyo",
 *   params: { region: "jp" },
 * });
 * console.log(s.schedule_id, new Date(s.next_run_at! * 1000));
 * await client.pauseSchedule(s.schedule_id);
 * ```
 */
export class ScheduleMethods {
  readonly #http: Transport;

  /**
   * Made by `PyocoClient` (its constructor builds the transport).
   *
   * @param http The client's transport.
   */
  constructor(http: Transport) {
    this.#http = http;
  }

  /**
   * `POST /schedules`: a schedule of a registered flow (`cron` + `timezone`,
   * `intervalSeconds`, or one-shot `runAt`). Not retried (a retry could create a second one).
   *
   * @param request The flow, the rule, params, tag and policies.
   * @param options `signal` to abort.
   * @returns The schedule, with its `schedule_id` and `next_run_at`.
   * @throws {PyocoHttpError} 422 for an invalid rule or field (see `errors`), or (ERR-PYOCO-0006)
   *   a flow no worker of the tag offers (with the closest names); 401/403; 503.
   */
  createSchedule(request: CreateScheduleRequest, options: CallOptions = {}): Promise<ScheduleView> {
    const body = { flow_name: request.flowName, ...scheduleFields(request) };
    return this.#http.json("POST", "/schedules", {
      signal: options.signal,
      json: body,
      retryable: false,
    });
  }

  /**
   * `POST /schedules/yaml`: a schedule of a flow.yaml (multipart, pyoco-server 0.7's form
   * fields plus ours). The YAML is stored with the schedule.
   *
   * @param request The YAML, the runs' flow name, the rule, params, tag and policies.
   * @param options `signal` to abort.
   * @returns The schedule.
   * @throws {PyocoHttpError} 422 for invalid YAML or rule; 413 when too large; 401/403; 503.
   */
  createScheduleYaml(
    request: CreateScheduleYamlRequest,
    options: CallOptions = {},
  ): Promise<ScheduleView> {
    const form = workflowForm(request.workflowYaml, request.flowName);
    for (const [key, value] of Object.entries(scheduleFields(request))) {
      form.append(key, typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    return this.#http.json("POST", "/schedules/yaml", {
      signal: options.signal,
      body: form,
      retryable: false,
    });
  }

  /**
   * `GET /schedules`: the caller's schedules, oldest first.
   *
   * @param options `signal` to abort.
   * @returns The schedules, each with `next_run_at`, `last_run_id`, `last_status`.
   * @throws {PyocoHttpError} 401/403; 503 when NATS is down.
   */
  listSchedules(options: CallOptions = {}): Promise<ScheduleView[]> {
    return this.#http.json("GET", "/schedules", { signal: options.signal, retryable: true });
  }

  /**
   * `GET /schedules/{id}`: one schedule, `last_status` read from its last run.
   *
   * @param scheduleId The schedule.
   * @param options `signal` to abort.
   * @returns The schedule.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025) when there is no such schedule.
   */
  getSchedule(scheduleId: string, options: CallOptions = {}): Promise<ScheduleView> {
    return this.#http.json("GET", `/schedules/${_seg("scheduleId", scheduleId)}`, {
      signal: options.signal,
      retryable: true,
    });
  }

  /**
   * `PATCH /schedules/{id}`: change a schedule (pause/resume, params, policies, or a new rule).
   * Idempotent, so retried like a GET.
   *
   * @param scheduleId The schedule.
   * @param changes The fields to change.
   * @param options `signal` to abort.
   * @returns The schedule after the change.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025); 422 for an invalid change.
   */
  updateSchedule(
    scheduleId: string,
    changes: UpdateScheduleRequest,
    options: CallOptions = {},
  ): Promise<ScheduleView> {
    return this.#http.json("PATCH", `/schedules/${_seg("scheduleId", scheduleId)}`, {
      signal: options.signal,
      json: scheduleFields(changes),
      retryable: true,
    });
  }

  /**
   * Pause a schedule: no slot is decided until it is resumed (`PATCH {paused: true}`).
   *
   * @param scheduleId The schedule.
   * @param options `signal` to abort.
   * @returns The schedule, `paused: true`.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025) when there is no such schedule.
   */
  pauseSchedule(scheduleId: string, options: CallOptions = {}): Promise<ScheduleView> {
    return this.updateSchedule(scheduleId, { paused: true }, options);
  }

  /**
   * Resume a paused schedule (`PATCH {paused: false}`); slots missed meanwhile follow its
   * catch-up window.
   *
   * @param scheduleId The schedule.
   * @param options `signal` to abort.
   * @returns The schedule, `paused: false`.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025) when there is no such schedule.
   */
  resumeSchedule(scheduleId: string, options: CallOptions = {}): Promise<ScheduleView> {
    return this.updateSchedule(scheduleId, { paused: false }, options);
  }

  /**
   * `DELETE /schedules/{id}`: no slot is decided after the answer (its runs stay).
   *
   * @param scheduleId The schedule.
   * @param options `signal` to abort.
   * @returns `{ schedule_id, deleted: true }`.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025) when there is no such schedule.
   */
  deleteSchedule(
    scheduleId: string,
    options: CallOptions = {},
  ): Promise<{ schedule_id: string; deleted: true }> {
    return this.#http.json("DELETE", `/schedules/${_seg("scheduleId", scheduleId)}`, {
      signal: options.signal,
      retryable: false,
    });
  }

  /**
   * `POST /schedules/{id}/trigger`: one run now, outside the rule (a paused schedule too). Not
   * retried (a retry would start a second run).
   *
   * @param scheduleId The schedule.
   * @param options `signal` to abort.
   * @returns The new run: `{ run_id, status: "PENDING", schedule_id, scheduled_for }`.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025); 503 when NATS is down.
   */
  triggerSchedule(
    scheduleId: string,
    options: CallOptions = {},
  ): Promise<ScheduleTriggerResponse> {
    return this.#http.json("POST", `/schedules/${_seg("scheduleId", scheduleId)}/trigger`, {
      signal: options.signal,
      retryable: false,
    });
  }

  /**
   * `GET /schedules/{id}/runs`: the runs the schedule submitted (the last 50 are kept), newest
   * first, each with its current status.
   *
   * @param scheduleId The schedule.
   * @param options `limit` (1..200, default 50), `signal`.
   * @returns The runs.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0025); 422 for a bad limit.
   */
  scheduleRuns(scheduleId: string, options: ScheduleRunsOptions = {}): Promise<ScheduleRunRow[]> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    return this.#http.json("GET", `/schedules/${_seg("scheduleId", scheduleId)}/runs`, {
      signal: options.signal,
      query,
      retryable: true,
    });
  }
}
