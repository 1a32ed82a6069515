/**
 * `pyoco flows`: the flow catalog (SPEC §12) — which flows the workers offer, on which tag, with
 * their graph, tasks, default params and live workers.
 *
 * @module
 */

import type { FlowView } from "../client/mod.ts";
import { type CliCommand, denoIo, ExitCode, runCommand } from "./_common.ts";
import { ago, compactJson, table } from "./format.ts";

/** `pyoco flows [FLOW]`: the flows the workers offer, or one of them. */
export const flowsCommand: CliCommand = {
  summary: "List the flows the workers offer (or show one)",
  usage: "pyoco flows [FLOW] [--tag T] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "flows",
        usage: flowsCommand.usage,
        help: `Without FLOW: one line per flow and tag. With FLOW: its graph, tasks, default params
and live workers on each tag that offers it.

Options:
  --tag T     Only flows offered on tag T
  --json      Print JSON`,
        options: { tag: { type: "string" }, json: { type: "boolean" } },
        positionals: [0, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const all = await client.listFlows({ tag: values.tag as string | undefined });
        const name = positionals[0];
        const flows = name === undefined ? all : all.filter((f) => f.flow_name === name);
        if (values.json) {
          io.out(JSON.stringify(flows, null, 2) + "\n");
          return flows.length === 0 && name !== undefined ? ExitCode.failed : ExitCode.ok;
        }
        if (name !== undefined) {
          if (flows.length === 0) {
            io.err(_notOffered(name, { tag: values.tag as string | undefined, all }));
            return ExitCode.failed;
          }
          io.out(flows.map(_describe).join("\n"));
          return ExitCode.ok;
        }
        io.out(_table(flows));
        return ExitCode.ok;
      },
    );
  },
};

function _table(flows: FlowView[]): string {
  if (flows.length === 0) {
    return "No flows offered: start a worker with `deno task worker -- --flows ./examples/flows.ts`\n";
  }
  const now = Date.now();
  return table(
    ["TAG", "FLOW", "WORKERS", "UPDATED", "GRAPH"],
    flows.map((f) => [
      f.tag,
      f.flow_name,
      f.live_workers.length === 0 ? "none alive" : String(f.live_workers.length),
      ago(f.updated_at, now),
      f.graph.replace(/\s+/g, " ").slice(0, 60),
    ]),
  );
}

function _describe(f: FlowView): string {
  const rows: [string, string][] = [
    ["flow", f.flow_name],
    ["tag", f.tag],
    ["graph", f.graph.replace(/\s+/g, " ")],
    ["tasks", f.tasks.join(", ") || "-"],
    ["defaults", compactJson(f.defaults ?? {}, 500)],
    ["workers", f.live_workers.length === 0 ? "none alive" : f.live_workers.join(", ")],
    ["updated", ago(f.updated_at)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n";
}

function _notOffered(name: string, where: { tag: string | undefined; all: FlowView[] }): string {
  const on = where.tag === undefined ? "on any tag" : `on tag ${where.tag}`;
  const names = [...new Set(where.all.map((f) => f.flow_name))].sort();
  const offered = names.length === 0 ? "none is offered" : `offered: ${names.join(", ")}`;
  return `error: No worker offers flow "${name}" ${on} (${offered})\n`;
}
