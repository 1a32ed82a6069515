/**
 * Validation of schedule requests: `POST /schedules` (JSON), `POST /schedules/yaml` (multipart,
 * pyoco-server 0.7's form fields plus ours) and `PATCH /schedules/{id}`. Every problem is
 * collected and thrown at once as an {@linkcode InvalidRequestError} (422) whose `errors[]` name
 * the fields; unknown fields are rejected. Flow name, tag and params follow the rules of
 * `POST /runs` (they are checked by the same code, `validateRunRequest`).
 *
 * @module
 */

import type { Config } from "../../config.ts";
import { type FieldError, InvalidRequestError, RunStoreError } from "../errors.ts";
import { validateRunRequest, validateYamlRequest, type YamlSubmission } from "../submit.ts";
import { cronError, parseTime } from "./rules.ts";
import {
  OVERLAP_POLICIES,
  type OverlapPolicy,
  SCHEDULE_PRIORITIES,
  type SchedulePriority,
  type ScheduleRule,
  type ScheduleType,
} from "./types.ts";

/** Longest catch-up window: 7 days. */
export const MAX_CATCHUP_WINDOW_SEC = 604_800;

/** Longest interval: 366 days. */
export const MAX_INTERVAL_SEC = 31_622_400;

/** A validated new schedule. */
export interface ScheduleSpec {
  /** Flow to run. */
  flow_name: string;
  /** Tag of the runs. */
  tag: string;
  /** Params of the runs. */
  params: Record<string, unknown>;
  /** Priority of the runs. */
  priority: SchedulePriority;
  /** Overlap policy. */
  overlap: OverlapPolicy;
  /** Catch-up window in seconds. */
  catchup_window_sec: number;
  /** Created paused. */
  paused: boolean;
  /** Kind of rule. */
  schedule_type: ScheduleType;
  /** The rule. */
  rule: ScheduleRule;
}

/** A validated `PATCH`: only the fields given. */
export interface SchedulePatch {
  /** Pause or resume. */
  paused?: boolean;
  /** New params. */
  params?: Record<string, unknown>;
  /** New priority. */
  priority?: SchedulePriority;
  /** New overlap policy. */
  overlap?: OverlapPolicy;
  /** New catch-up window. */
  catchup_window_sec?: number;
  /** A whole new rule (when any rule field is given). */
  rule?: { schedule_type: ScheduleType; rule: ScheduleRule };
}

const _RULE_FIELDS = ["cron", "timezone", "interval_seconds", "run_at", "start_at", "end_at"];
const _POLICY_FIELDS = ["priority", "overlap", "catchup_window_sec", "paused"];
const _JSON_FIELDS = new Set(["flow_name", "params", "tag", ..._RULE_FIELDS, ..._POLICY_FIELDS]);
const _PATCH_FIELDS = new Set(["params", ..._RULE_FIELDS, ..._POLICY_FIELDS]);
const _FORM_FIELDS = new Set([
  "workflow",
  "flow_name",
  "tag",
  ..._RULE_FIELDS,
  "params",
  "overlap",
  "catchup_window_sec",
  "priority",
]);

function _isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _unknown(keys: Iterable<string>, allowed: Set<string>, errors: FieldError[]): void {
  for (const key of keys) {
    if (!allowed.has(key)) {
      errors.push({ path: key, message: `unknown field (allowed: ${[...allowed].join(", ")})` });
    }
  }
}

function _time(body: Record<string, unknown>, key: string, errors: FieldError[]): number | null {
  const v = body[key];
  if (v === undefined || v === null || v === "") return null;
  const t = parseTime(v);
  if (typeof t === "number") return t;
  errors.push({ path: key, message: t.error });
  return null;
}

/**
 * Check the rule fields of a body (`cron`+`timezone` | `interval_seconds` | `run_at`, plus
 * `start_at`, `end_at`).
 *
 * @param body The fields (JSON values, or strings from a form).
 * @param now Unix seconds (a one-shot `run_at` must be in the future).
 * @param errors Where problems go.
 * @returns The rule and its kind (meaningless when `errors` grew).
 */
export function checkRule(
  body: Record<string, unknown>,
  now: number,
  errors: FieldError[],
): { schedule_type: ScheduleType; rule: ScheduleRule } {
  const given = (k: string) => body[k] !== undefined && body[k] !== null && body[k] !== "";
  const kinds = ["cron", "interval_seconds", "run_at"].filter(given);
  const rule: ScheduleRule = {
    cron: null,
    timezone: null,
    interval_seconds: null,
    run_at: null,
    start_at: _time(body, "start_at", errors),
    end_at: _time(body, "end_at", errors),
  };
  if (kinds.length !== 1) {
    errors.push({
      path: kinds.length === 0 ? "cron" : kinds[1]!,
      message: "give exactly one of cron, interval_seconds or run_at",
    });
  }
  if (given("timezone") && !given("cron")) {
    errors.push({ path: "timezone", message: "is only valid with cron" });
  }
  if (given("cron")) {
    const tz = body.timezone ?? "UTC";
    if (typeof body.cron !== "string" || body.cron.length > 256) {
      errors.push({ path: "cron", message: "must be a string of at most 256 characters" });
    } else if (typeof tz !== "string" || tz.length > 64) {
      errors.push({ path: "timezone", message: "must be an IANA time zone name" });
    } else {
      const problem = cronError(body.cron, tz);
      if (problem !== null) {
        errors.push({
          path: problem.startsWith("time zone") ? "timezone" : "cron",
          message: problem,
        });
      }
      rule.cron = body.cron.trim().replace(/\s+/g, " ");
      rule.timezone = tz;
    }
  }
  if (given("interval_seconds")) {
    const raw = body.interval_seconds;
    const n = typeof raw === "string" && /^\d+(\.0+)?$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_INTERVAL_SEC) {
      errors.push({
        path: "interval_seconds",
        message: `must be a whole number of seconds from 1 to ${MAX_INTERVAL_SEC}`,
      });
    } else {
      rule.interval_seconds = n;
    }
  }
  if (given("run_at")) {
    rule.run_at = _time(body, "run_at", errors);
    if (rule.run_at !== null && rule.run_at <= now) {
      errors.push({ path: "run_at", message: "must be in the future" });
    }
    if (rule.start_at !== null) {
      errors.push({ path: "start_at", message: "is only valid with cron or interval_seconds" });
    }
  }
  if (rule.start_at !== null && rule.end_at !== null && rule.end_at <= rule.start_at) {
    errors.push({ path: "end_at", message: "must be after start_at" });
  }
  if (rule.end_at !== null && rule.end_at <= now) {
    errors.push({ path: "end_at", message: "must be in the future" });
  }
  const schedule_type: ScheduleType = given("cron")
    ? "cron"
    : given("interval_seconds")
    ? "interval"
    : "once";
  return { schedule_type, rule };
}

function _policies(body: Record<string, unknown>, errors: FieldError[]) {
  const out: Partial<Pick<ScheduleSpec, "priority" | "overlap" | "catchup_window_sec" | "paused">> =
    {};
  if (body.priority !== undefined) {
    if (SCHEDULE_PRIORITIES.includes(body.priority as SchedulePriority)) {
      out.priority = body.priority as SchedulePriority;
    } else errors.push({ path: "priority", message: "must be high, normal or low" });
  }
  if (body.overlap !== undefined) {
    if (OVERLAP_POLICIES.includes(body.overlap as OverlapPolicy)) {
      out.overlap = body.overlap as OverlapPolicy;
    } else errors.push({ path: "overlap", message: "must be skip, allow or buffer_one" });
  }
  if (body.catchup_window_sec !== undefined) {
    const raw = body.catchup_window_sec;
    const n = typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_CATCHUP_WINDOW_SEC) {
      out.catchup_window_sec = n;
    } else {
      errors.push({
        path: "catchup_window_sec",
        message: `must be a whole number of seconds from 0 to ${MAX_CATCHUP_WINDOW_SEC}`,
      });
    }
  }
  if (body.paused !== undefined) {
    if (typeof body.paused === "boolean") out.paused = body.paused;
    else errors.push({ path: "paused", message: "must be true or false" });
  }
  return out;
}

/** Flow name, params and tag by the rules of `POST /runs`; problems are appended. */
function _runFields(
  fields: Record<string, unknown>,
  config: Config,
  errors: FieldError[],
): { flow_name: string; params: Record<string, unknown>; tag: string } {
  try {
    const r = validateRunRequest(fields, config);
    return { flow_name: r.flow_name, params: r.params, tag: r.tag };
  } catch (err) {
    if (!(err instanceof RunStoreError)) throw err;
    errors.push(...err.errors);
    return { flow_name: "", params: {}, tag: config.defaultTag };
  }
}

function _spec(
  run: { flow_name: string; params: Record<string, unknown>; tag: string },
  body: Record<string, unknown>,
  now: number,
  errors: FieldError[],
): ScheduleSpec {
  const { schedule_type, rule } = checkRule(body, now, errors);
  const p = _policies(body, errors);
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return {
    ...run,
    priority: p.priority ?? "normal",
    overlap: p.overlap ?? "skip",
    catchup_window_sec: p.catchup_window_sec ?? 0,
    paused: p.paused ?? false,
    schedule_type,
    rule,
  };
}

/**
 * Validate a `POST /schedules` JSON body.
 *
 * @param body The parsed JSON.
 * @param options The configuration and the current time (unix seconds).
 * @returns The schedule to create.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 listing every problem.
 */
export function validateScheduleRequest(
  body: unknown,
  options: { config: Config; now: number },
): ScheduleSpec {
  if (!_isObject(body)) {
    throw new InvalidRequestError([{ path: "body", message: "must be a JSON object" }]);
  }
  const errors: FieldError[] = [];
  _unknown(Object.keys(body), _JSON_FIELDS, errors);
  const run = _runFields(
    { flow_name: body.flow_name, params: body.params, tag: body.tag },
    options.config,
    errors,
  );
  return _spec(run, body, options.now, errors);
}

/**
 * Validate a `POST /schedules/yaml` form: pyoco-server 0.7's `workflow, flow_name, tag, run_at,
 * interval_seconds, start_at` plus `cron, timezone, params` (a JSON object overlaying
 * `flow.defaults`), `overlap, catchup_window_sec, end_at, priority`.
 *
 * @param form The multipart form.
 * @param options The configuration and the current time (unix seconds).
 * @returns The schedule and the flow.yaml to store.
 * @throws {TooLargeError} ERR-PYOCO-0016 above `PYOCO_WORKFLOW_YAML_MAX_BYTES`.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 listing every problem.
 */
export async function validateScheduleForm(
  form: FormData,
  options: { config: Config; now: number },
): Promise<{ spec: ScheduleSpec; yaml: YamlSubmission }> {
  const errors: FieldError[] = [];
  const fields: Record<string, unknown> = {};
  for (const [key, value] of form.entries()) {
    if (key in fields) errors.push({ path: key, message: "given more than once" });
    fields[key] = typeof value === "string" ? value : null;
  }
  _unknown(Object.keys(fields), _FORM_FIELDS, errors);
  const runForm = new FormData();
  for (const key of ["workflow", "flow_name", "tag"]) {
    const v = form.get(key);
    if (v !== null) runForm.set(key, v);
  }
  let params: unknown = undefined;
  if (typeof fields.params === "string" && fields.params.trim() !== "") {
    try {
      params = JSON.parse(fields.params);
      if (!_isObject(params)) errors.push({ path: "params", message: "must be a JSON object" });
    } catch {
      errors.push({ path: "params", message: "must be a JSON object" });
    }
  }
  let parsed: Awaited<ReturnType<typeof validateYamlRequest>>;
  try {
    parsed = await validateYamlRequest(runForm, options.config);
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    errors.push(...err.errors);
    throw new InvalidRequestError(errors);
  }
  const merged = _isObject(params)
    ? { ...parsed.request.params, ...params }
    : parsed.request.params;
  const run = _runFields(
    { flow_name: parsed.request.flow_name, params: merged, tag: parsed.request.tag },
    options.config,
    errors,
  );
  delete fields.params;
  return { spec: _spec(run, fields, options.now, errors), yaml: parsed.yaml };
}

/**
 * Validate a `PATCH /schedules/{id}` body: `paused`, `params`, policies, or a new rule (any of
 * `cron, timezone, interval_seconds, run_at, start_at, end_at` replaces the whole rule).
 *
 * @param body The parsed JSON.
 * @param options The configuration and the current time (unix seconds).
 * @returns The changes.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 listing every problem.
 */
export function validateSchedulePatch(
  body: unknown,
  options: { config: Config; now: number },
): SchedulePatch {
  if (!_isObject(body)) {
    throw new InvalidRequestError([{ path: "body", message: "must be a JSON object" }]);
  }
  const errors: FieldError[] = [];
  const keys = Object.keys(body);
  _unknown(keys, _PATCH_FIELDS, errors);
  if (keys.length === 0) errors.push({ path: "body", message: "must change at least one field" });
  const patch: SchedulePatch = _policies(body, errors);
  if (body.params !== undefined) {
    patch.params = _runFields({ flow_name: "x", params: body.params }, options.config, errors)
      .params;
  }
  if (keys.some((k) => _RULE_FIELDS.includes(k))) {
    patch.rule = checkRule(body, options.now, errors);
  }
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return patch;
}
