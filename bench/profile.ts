/**
 * Where the end-to-end time goes: runs N `noop` runs through a real gateway and one worker, both
 * started with the V8 inspector, takes a CPU profile of each over the run (Chrome DevTools
 * protocol, `Profiler.start/stop`), and prints the top functions by self time, grouped by
 * module, plus the NATS messages each run costs (KV writes and events from the stream
 * sequences, and — during the warm-up, so the profiled window is not disturbed — every message by
 * subject kind, seen by a core subscription on `>`). A diagnosis tool for `docs/performance.md`,
 * not part of `deno task bench`.
 *
 * ```
 * deno run -A bench/profile.ts [--n 3000] [--clients 32] [--concurrency 16] [--top 25]
 * ```
 *
 * With `PROFILE_DUMP=/tmp/p` it also writes `/tmp/p.gateway.cpuprofile` and
 * `/tmp/p.worker.cpuprofile` (open them in Chrome DevTools for inclusive times).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer } from "../tests/_helpers/nats_server.ts";
import { startWorkerProcess } from "../tests/_helpers/worker_process.ts";
import { WORKER_PERMISSIONS } from "../src/host/permissions.ts";
import { loadConfig } from "../src/config.ts";
import { runConcurrently, waitFor } from "./_stats.ts";
import { spawnReady } from "./_proc.ts";
import { TerminalWatcher } from "./_watch.ts";

interface _ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface _Profile {
  nodes: _ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A DevTools-protocol session over the inspector WebSocket. */
class _Inspector {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, (v: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg.result);
    };
  }

  static async open(port: number): Promise<_Inspector> {
    let target: { webSocketDebuggerUrl: string } | undefined;
    await waitFor(
      async () => {
        const list = await fetch(`http://127.0.0.1:${port}/json/list`).then((r) => r.json())
          .catch(() => []);
        target = list[0];
        return target !== undefined;
      },
      "the inspector",
      20_000,
      100,
    );
    const ws = new WebSocket(target!.webSocketDebuggerUrl);
    await new Promise((r) => (ws.onopen = r));
    return new _Inspector(ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((r) => this.#pending.set(id, r as (v: unknown) => void));
  }

  close(): void {
    this.#ws.close();
  }
}

/** A subject with its run ids, inboxes and reply tokens folded, so messages group by kind. */
function _subjectKind(subject: string): string {
  const t = subject.split(".");
  if (t[0] === "_INBOX") return "_INBOX.* (replies, pushed deliveries)";
  if (t[0] === "$JS" && t[1] === "ACK") return `$JS.ACK.${t[2]}.${t[3]}.* (acks)`;
  if (t[0] === "$KV") return `$KV.${t[1]}.* (KV writes)`;
  if (t[0] === "$JS" && t[1] === "API") return t.slice(0, 5).join(".");
  if (t[0] === "$JS" && t[1] === "FC") return "$JS.FC.* (flow control)";
  return t.map((x) => (/^[0-9a-f-]{12,}$|^\d+$/.test(x) ? "*" : x)).slice(0, 4).join(".");
}

/** Counts every message on the server by subject kind while it runs. */
function _countSubjects(nc: Awaited<ReturnType<typeof connect>>): () => Map<string, number> {
  const counts = new Map<string, number>();
  const sub = nc.subscribe(">", {
    callback: (_err, m) => {
      const k = _subjectKind(m.subject);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    },
  });
  return () => {
    sub.unsubscribe();
    return counts;
  };
}

function _top(profile: _Profile, top: number): string[] {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    total += us;
    const f = node.callFrame;
    const url = f.url.replace(/^file:\/\/\/work\/main\//, "").replace(
      /^.*registry\.npmjs\.org\//,
      "npm:",
    );
    const key = `${f.functionName || "(anonymous)"} ${url}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const mod = url === "" ? `(${f.functionName || "native"})` : url.replace(/:\d+$/, "");
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1)}%`;
  const sort = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return [
    `  by module (self time, ${(total / 1000).toFixed(0)} ms sampled):`,
    ...sort(byModule).slice(0, top).map(([k, v]) => `    ${pct(v).padStart(6)}  ${k}`),
    `  by function:`,
    ...sort(byFn).slice(0, top).map(([k, v]) => `    ${pct(v).padStart(6)}  ${k}`),
  ];
}

async function _main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "3000" },
      clients: { type: "string", default: "32" },
      concurrency: { type: "string", default: "16" },
      top: { type: "string", default: "25" },
    },
  });
  const n = Number(values.n);
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const gwInspect = freePort();
  const gwPort = freePort();
  const gateway = await spawnReady(
    ["run", "-A", `--inspect=127.0.0.1:${gwInspect}`, "cli/gateway.ts", "--port", String(gwPort)],
    {
      env: { PYOCO_NATS_URL: srv.url, PYOCO_ENV_FILE: "/dev/null", NO_COLOR: "1" },
      readyLine: /Connected to NATS/,
    },
  );
  const url = `http://127.0.0.1:${gwPort}`;
  const wkInspect = freePort();
  const worker = await startWorkerProcess({
    natsUrl: srv.url,
    flows: ["bench/flows.ts"],
    concurrency: Number(values.concurrency),
    permissions: [...WORKER_PERMISSIONS, `--inspect=127.0.0.1:${wkInspect}`],
  });
  const nc = await connect({ servers: srv.url });
  try {
    const watcher = await TerminalWatcher.open(nc, config.runsKvBucket);
    const submit = async () => {
      const start = performance.now();
      const res = await fetch(`${url}/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"flow_name":"noop"}',
      });
      const body = await res.json();
      if (res.status !== 200) throw new Error(`POST /runs answered ${res.status}`);
      watcher.submitted(body.run_id, start);
    };
    const stopCounting = _countSubjects(await connect({ servers: srv.url, name: "bench-tap" }));
    await runConcurrently(300, Number(values.clients), submit);
    await watcher.waitDone(300);
    watcher.reset();
    const kinds = [...stopCounting().entries()].sort((a, b) => b[1] - a[1]);
    console.log("messages per run by subject kind (warm-up, 300 runs; the watch's own included):");
    for (const [k, v] of kinds) console.log(`  ${(v / 300).toFixed(2).padStart(6)}  ${k}`);
    const jsm = await jetstreamManager(nc);
    const seq = async (stream: string) =>
      (await jsm.streams.info(stream).catch(() => null))?.state.last_seq ?? 0;
    const before = {
      kv: await seq(`KV_${config.runsKvBucket}`),
      events: await seq(config.eventsStream),
      workers: await seq(`KV_${config.workersKvBucket}`),
    };
    const inspectors = [await _Inspector.open(gwInspect), await _Inspector.open(wkInspect)];
    for (const i of inspectors) {
      await i.send("Profiler.enable");
      await i.send("Profiler.setSamplingInterval", { interval: 200 });
      await i.send("Profiler.start");
    }
    const t0 = performance.now();
    await runConcurrently(n, Number(values.clients), submit);
    await watcher.waitDone(n);
    const seconds = (watcher.lastTerminalAt - t0) / 1000;
    const profiles = await Promise.all(
      inspectors.map((i) => i.send<{ profile: _Profile }>("Profiler.stop")),
    );
    for (const i of inspectors) i.close();
    const dump = Deno.env.get("PROFILE_DUMP");
    if (dump) {
      await Deno.writeTextFile(`${dump}.gateway.cpuprofile`, JSON.stringify(profiles[0]!.profile));
      await Deno.writeTextFile(`${dump}.worker.cpuprofile`, JSON.stringify(profiles[1]!.profile));
    }
    const after = {
      kv: await seq(`KV_${config.runsKvBucket}`),
      events: await seq(config.eventsStream),
      workers: await seq(`KV_${config.workersKvBucket}`),
    };
    watcher.stop();
    console.log(`${n} runs in ${seconds.toFixed(2)} s = ${(n / seconds).toFixed(0)} runs/s`);
    console.log(
      `per run: ${((after.kv - before.kv) / n).toFixed(2)} runs-KV writes, ${
        ((after.events - before.events) / n).toFixed(2)
      } events messages; workers-KV writes in the window: ${after.workers - before.workers}`,
    );
    console.log("gateway:");
    console.log(_top(profiles[0]!.profile, Number(values.top)).join("\n"));
    console.log("worker:");
    console.log(_top(profiles[1]!.profile, Number(values.top)).join("\n"));
  } finally {
    await nc.close();
    await worker.stop();
    await gateway.stop();
  }
}

if (import.meta.main) await _main();
