/**
 * `pyoco schedule create|list|get|pause|resume|delete|trigger|runs` (SPEC §14): schedules of a
 * registered flow or of a flow.yaml (`--yaml FILE`), on a cron rule (with a time zone), an
 * interval (`--every SECONDS`) or once (`--at TIME`). Times are unix seconds or ISO 8601
 * (`2026-12-24T18:00:00+09:00`); the gateway reads them.
 *
 * @module
 */

import type { CreateScheduleRequest, PyocoClient, ScheduleView } from "../client/mod.ts";
import {
  type CliCommand,
  type CliIo,
  type CommandSpec,
  denoIo,
  ExitCode,
  type FlagValues,
  runCommand,
  UsageError,
} from "./_common.ts";
import { timeoutFlagMs, waitAndReport } from "./_wait.ts";
import { ago, compactJson, table, timestamp } from "./format.ts";
import { readParams } from "./params.ts";
import { suggestOption } from "./usage.ts";

const _CREATE_HELP = `Give exactly one rule: --cron EXPR, --every SECONDS or --at TIME.
TIME is unix seconds or ISO 8601 (e.g. 2026-12-24T18:00:00+09:00).

Options:
  --flow NAME            The flow to run (with --yaml: the name the runs get) (required)
  --cron EXPR            Cron rule, 5 fields (minute first) or 6 (second first)
  --timezone TZ          IANA time zone of --cron (default UTC), e.g. Europe/Berlin
  --every SECONDS        A run every SECONDS seconds (anchored at --start-at)
  --at TIME              One run at TIME (a one-shot schedule)
  --param k=v            A parameter; the value is JSON when it parses, else text. Repeatable
  --params-file F        Parameters from a JSON or YAML file; --param overrides it
  --tag T                Work queue of the runs (default: the gateway's default tag)
  --priority P           high, normal (default) or low
  --overlap POLICY       skip (default: no new run while the last one runs), allow, buffer_one
  --catchup-window SEC   Run missed slots up to SEC seconds late (default 0: skip them)
  --start-at TIME        No run before TIME
  --end-at TIME          No run after TIME
  --yaml FILE            Schedule a flow.yaml (stored with the schedule) instead of a flow
  --paused               Create it paused
  --json                 Print the schedule as JSON`;

const _CREATE_OPTIONS = {
  flow: { type: "string" },
  cron: { type: "string" },
  timezone: { type: "string" },
  every: { type: "string" },
  at: { type: "string" },
  param: { type: "string", multiple: true },
  "params-file": { type: "string" },
  tag: { type: "string" },
  priority: { type: "string" },
  overlap: { type: "string" },
  "catchup-window": { type: "string" },
  "start-at": { type: "string" },
  "end-at": { type: "string" },
  yaml: { type: "string" },
  paused: { type: "boolean" },
  json: { type: "boolean" },
} as const;

type _Body = (ctx: { values: FlagValues; positionals: string[]; client: PyocoClient }) => Promise<
  number
>;

interface _Sub {
  summary: string;
  spec: Omit<CommandSpec, "name">;
  body: (io: CliIo) => _Body;
}

const _JSON = { json: { type: "boolean" } } as const;

/** `pyoco schedule …`: every sub-command by name. */
const _SUBS: Record<string, _Sub> = {
  create: {
    summary: "Create a schedule (cron, interval or one-shot)",
    spec: {
      usage: "pyoco schedule create --flow NAME (--cron EXPR | --every SEC | --at TIME) [options]",
      help: _CREATE_HELP,
      options: _CREATE_OPTIONS,
      positionals: [0, 0],
    },
    body: (io) => async ({ values, client }) => {
      const s = await _create(client, values);
      if (values.json) io.out(JSON.stringify(s, null, 2) + "\n");
      else io.out(`Schedule ${s.schedule_id} created: ${_rule(s)}, next run ${_next(s)}\n`);
      return ExitCode.ok;
    },
  },
  list: {
    summary: "List schedules with their next run and last status",
    spec: {
      usage: "pyoco schedule list [--json]",
      help: "Options:\n  --json    Print JSON",
      options: _JSON,
      positionals: [0, 0],
    },
    body: (io) => async ({ values, client }) => {
      const list = await client.listSchedules();
      if (values.json) io.out(JSON.stringify(list, null, 2) + "\n");
      else if (list.length === 0) io.out("No schedules\n");
      else {
        io.out(table(
          ["SCHEDULE_ID", "FLOW", "RULE", "STATE", "NEXT_RUN", "LAST_STATUS", "SKIPPED"],
          list.map((s) => [
            s.schedule_id,
            s.flow_name,
            _rule(s),
            _state(s),
            _next(s),
            s.last_status ?? "-",
            String(s.skipped_slots),
          ]),
        ));
      }
      return ExitCode.ok;
    },
  },
  get: {
    summary: "Show a schedule and its recent runs",
    spec: {
      usage: "pyoco schedule get ID [--json]",
      help: "Options:\n  --json    Print JSON",
      options: _JSON,
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const id = positionals[0]!;
      const [s, runs] = await Promise.all([
        client.getSchedule(id),
        client.scheduleRuns(id, { limit: 10 }),
      ]);
      if (values.json) io.out(JSON.stringify({ ...s, recent_runs: runs }, null, 2) + "\n");
      else io.out(_describe(s) + _runsTable(runs));
      return ExitCode.ok;
    },
  },
  pause: {
    summary: "Pause a schedule (no run until it is resumed)",
    spec: {
      usage: "pyoco schedule pause ID [--json]",
      help: "Options:\n  --json    Print JSON",
      options: _JSON,
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const s = await client.pauseSchedule(positionals[0]!);
      io.out(
        values.json ? JSON.stringify(s, null, 2) + "\n" : `Schedule ${s.schedule_id} paused\n`,
      );
      return ExitCode.ok;
    },
  },
  resume: {
    summary: "Resume a paused schedule",
    spec: {
      usage: "pyoco schedule resume ID [--json]",
      help: "Options:\n  --json    Print JSON",
      options: _JSON,
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const s = await client.resumeSchedule(positionals[0]!);
      io.out(
        values.json
          ? JSON.stringify(s, null, 2) + "\n"
          : `Schedule ${s.schedule_id} resumed, next run ${_next(s)}\n`,
      );
      return ExitCode.ok;
    },
  },
  delete: {
    summary: "Delete a schedule (its runs stay)",
    spec: {
      usage: "pyoco schedule delete ID [--json]",
      help: "Options:\n  --json    Print JSON",
      options: _JSON,
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const answer = await client.deleteSchedule(positionals[0]!);
      io.out(
        values.json ? JSON.stringify(answer) + "\n" : `Schedule ${answer.schedule_id} deleted\n`,
      );
      return ExitCode.ok;
    },
  },
  trigger: {
    summary: "Run a schedule's flow now, outside its rule",
    spec: {
      usage: "pyoco schedule trigger ID [--wait] [--timeout SEC] [--json]",
      help: `Prints the new run's id.

Options:
  --wait           Wait for the run and show its progress; exit 0 only when it COMPLETED
  --timeout SEC    With --wait: give up waiting after SEC seconds (exit 124)
  --json           Print JSON`,
      options: { wait: { type: "boolean" }, timeout: { type: "string" }, ..._JSON },
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const timeoutMs = timeoutFlagMs(values);
      const json = values.json === true;
      const answer = await client.triggerSchedule(positionals[0]!);
      if (!values.wait) {
        io.out(json ? JSON.stringify(answer) + "\n" : `${answer.run_id}\n`);
        return ExitCode.ok;
      }
      if (!json) io.err(`Triggered schedule ${answer.schedule_id} as run ${answer.run_id}\n`);
      return await waitAndReport(client, io, { runId: answer.run_id, json, timeoutMs });
    },
  },
  runs: {
    summary: "List the runs a schedule submitted, newest first",
    spec: {
      usage: "pyoco schedule runs ID [--limit N] [--json]",
      help:
        "Options:\n  --limit N    At most N runs (1..200, default 50)\n  --json       Print JSON",
      options: { limit: { type: "string" }, ..._JSON },
      positionals: [1, 1],
    },
    body: (io) => async ({ values, positionals, client }) => {
      const limit = values.limit === undefined
        ? undefined
        : _int(values.limit as string, "--limit");
      const runs = await client.scheduleRuns(positionals[0]!, { limit });
      io.out(values.json ? JSON.stringify(runs, null, 2) + "\n" : _runsTable(runs));
      return ExitCode.ok;
    },
  },
};

function _help(): string {
  const width = Math.max(...Object.keys(_SUBS).map((n) => n.length));
  const lines = Object.entries(_SUBS).map(([n, s]) => `  ${n.padEnd(width)}  ${s.summary}`);
  return `Usage: pyoco schedule <command> [options]\n\nCommands:\n${lines.join("\n")}\n\n` +
    "Run 'pyoco schedule <command> --help' for a command's options.\n";
}

/** `pyoco schedule …`: create, list, show, pause, resume, delete and trigger schedules. */
export const scheduleCommand: CliCommand = {
  summary: "Manage schedules: create|list|get|pause|resume|delete|trigger|runs",
  usage: "pyoco schedule <create|list|get|pause|resume|delete|trigger|runs> [options]",
  async run(args, io = denoIo()) {
    const [name, ...rest] = args;
    if (name === undefined || name === "-h" || name === "--help" || name === "help") {
      (name === undefined ? io.err : io.out)(_help());
      return name === undefined ? ExitCode.usage : ExitCode.ok;
    }
    const sub = Object.hasOwn(_SUBS, name) ? _SUBS[name] : undefined;
    if (sub === undefined) {
      const near = suggestOption(name, Object.keys(_SUBS));
      const hint = near === undefined ? "" : `. Did you mean "${near}"?`;
      io.err(`pyoco schedule: unknown command "${name}"${hint}\n\n${_help()}`);
      return ExitCode.usage;
    }
    return await runCommand({ name: `schedule ${name}`, ...sub.spec }, rest, io, sub.body(io));
  },
};

/** Build and send the create request from the flags. */
async function _create(client: PyocoClient, values: FlagValues): Promise<ScheduleView> {
  const flowName = values.flow as string | undefined;
  if (!flowName) throw new UsageError("--flow is required");
  const rules = ["cron", "every", "at"].filter((k) => values[k] !== undefined);
  if (rules.length !== 1) {
    throw new UsageError(
      rules.length === 0
        ? "Give a rule: --cron EXPR, --every SECONDS or --at TIME"
        : `Give one rule only, not both --${rules[0]} and --${rules[1]}`,
    );
  }
  const request: CreateScheduleRequest = { flowName };
  if (values.cron !== undefined) request.cron = values.cron as string;
  if (values.timezone !== undefined) request.timezone = values.timezone as string;
  if (values.every !== undefined) request.intervalSeconds = _int(values.every as string, "--every");
  if (values.at !== undefined) request.runAt = _time(values.at as string);
  if (values["start-at"] !== undefined) request.startAt = _time(values["start-at"] as string);
  if (values["end-at"] !== undefined) request.endAt = _time(values["end-at"] as string);
  if (values.tag !== undefined) request.tag = values.tag as string;
  if (values.priority !== undefined) {
    request.priority = values.priority as CreateScheduleRequest["priority"];
  }
  if (values.overlap !== undefined) {
    request.overlap = values.overlap as CreateScheduleRequest["overlap"];
  }
  if (values["catchup-window"] !== undefined) {
    request.catchupWindowSec = _int(values["catchup-window"] as string, "--catchup-window", 0);
  }
  const params = await readParams({
    pairs: (values.param as string[] | undefined) ?? [],
    file: values["params-file"] as string | undefined,
  });
  const given = Object.keys(params).length > 0 ? params : undefined;
  const yamlPath = values.yaml as string | undefined;
  if (yamlPath === undefined) {
    return await client.createSchedule({
      ...request,
      params: given,
      paused: values.paused === true,
    });
  }
  if (values.paused) throw new UsageError("--paused cannot be used with --yaml: pause it after");
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(yamlPath);
  } catch (err) {
    throw new UsageError(`Cannot read ${yamlPath}: ${(err as Error).message}`);
  }
  return await client.createScheduleYaml({ ...request, workflowYaml: bytes, params: given });
}

function _int(raw: string, flag: string, min = 1): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `${flag} must be a whole number${min > 0 ? " ≥ 1" : " ≥ 0"}, got "${raw}"`,
    );
  }
  return n;
}

/** Unix seconds stay a number; anything else goes as text (the gateway parses ISO 8601). */
function _time(raw: string): number | string {
  return /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
}

function _rule(s: ScheduleView): string {
  if (s.cron !== null) return `cron "${s.cron}" ${s.timezone ?? "UTC"}`;
  if (s.interval_seconds !== null) return `every ${s.interval_seconds}s`;
  return `once at ${timestamp(s.run_at)}`;
}

function _state(s: ScheduleView): string {
  return s.status === "COMPLETED" ? "COMPLETED" : s.paused ? "PAUSED" : "ACTIVE";
}

function _next(s: ScheduleView): string {
  if (s.paused) return "- (paused)";
  return s.next_run_at === null ? "-" : timestamp(s.next_run_at);
}

function _describe(s: ScheduleView): string {
  const rows: [string, string][] = [
    ["schedule_id", s.schedule_id],
    ["flow", `${s.flow_name}${s.workflow_yaml_sha256 ? "  (flow.yaml)" : ""}`],
    ["rule", _rule(s)],
    ["state", _state(s)],
    ["tag", s.tag],
    ["priority", s.priority],
    ["overlap", s.overlap],
    ["catchup", `${s.catchup_window_sec}s`],
    ["window", `${timestamp(s.start_at)} .. ${timestamp(s.end_at)}`],
    ["next_run", _next(s)],
    ["last_run", s.last_run_id ? `${s.last_run_id} ${s.last_status ?? ""}`.trim() : "-"],
    ["skipped", String(s.skipped_slots)],
    ["dispatched", String(s.dispatch_count)],
    ["params", compactJson(s.params)],
  ];
  if (s.last_error) rows.push(["last_error", s.last_error]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n\n";
}

function _runsTable(
  runs: { run_id: string; scheduled_for: number; status: string | null; manual?: boolean }[],
): string {
  if (runs.length === 0) return "No runs yet\n";
  const now = Date.now();
  return table(
    ["RUN_ID", "SCHEDULED_FOR", "STATUS", "HOW"],
    runs.map((r) => [
      r.run_id,
      `${timestamp(r.scheduled_for)} (${ago(r.scheduled_for, now)})`,
      r.status ?? "(gone)",
      r.manual ? "trigger" : "slot",
    ]),
  );
}
