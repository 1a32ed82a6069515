/**
 * `deno task dev`: the whole stack on one machine. Starts nats-server with a temp store when
 * none answers at PYOCO_NATS_URL, then the gateway and one worker with the examples; prints the
 * URL and a ready-to-paste curl; Ctrl-C stops everything.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../src/config.ts";
import { GATEWAY_PERMISSIONS, WORKER_PERMISSIONS } from "../src/host/permissions.ts";

const HELP = `Usage: deno task dev [--port N] [--nats-port N] [--flows PATH]…

Starts a local nats-server (temp JetStream store) unless one answers at PYOCO_NATS_URL,
then the gateway and one worker with the examples. Ctrl-C stops everything.

  --port N        gateway port (default PYOCO_HTTP_PORT, 8000)
  --nats-port N   port of the nats-server it starts (default: the port of PYOCO_NATS_URL)
  --flows PATH    flows module for the worker (repeatable; default examples/flows.ts and
                  examples/tasks.ts)
  -h, --help      this text`;

type Child = { name: string; proc: Deno.ChildProcess };

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: cliArgs(),
      options: {
        port: { type: "string" },
        "nats-port": { type: "string" },
        flows: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const { proc } of children.reverse()) {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(children.map((c) => c.proc.status));
    for (const fn of cleanups) await fn();
  };

  const natsUrl = config.natsUrl[0]!;
  const natsPort = Number(args["nats-port"] ?? new URL(natsUrl.replace(/^\w+:/, "http:")).port) ||
    4222;
  let env: Record<string, string> = {};
  if (await reachable("127.0.0.1", natsPort) && !args["nats-port"]) {
    say(`Using the nats-server already answering at ${natsUrl}`);
    env.PYOCO_NATS_URL = config.natsUrl.join(",");
  } else {
    const bin = Deno.env.get("PYOCO_NATS_SERVER_BIN") ?? "nats-server";
    const store = await Deno.makeTempDir({ prefix: "pyoco-dev-nats-" });
    cleanups.push(() => Deno.remove(store, { recursive: true }).catch(() => {}));
    let proc: Deno.ChildProcess;
    try {
      proc = new Deno.Command(bin, {
        args: ["-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", store],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        console.error(
          `Cannot find nats-server (${bin}). Install it (Debian/Ubuntu: sudo apt-get install -y ` +
            `nats-server; macOS: brew install nats-server) or set PYOCO_NATS_SERVER_BIN.`,
        );
        await stopAll();
        return 1;
      }
      throw err;
    }
    children.push({ name: "nats", proc });
    // nats-server's start-up banner is long; show only its warnings and errors.
    pipe("nats", proc, () => {}, (line) => /\[(WRN|ERR|FTL)\]/.test(line));
    if (!(await waitFor(() => reachable("127.0.0.1", natsPort), 10_000))) {
      console.error(`nats-server did not open port ${natsPort}`);
      await stopAll();
      return 1;
    }
    say(`Started nats-server on nats://127.0.0.1:${natsPort} (temp store ${store})`);
    env.PYOCO_NATS_URL = `nats://127.0.0.1:${natsPort}`;
  }
  env = { ...env, PYOCO_LOG_FORMAT: Deno.env.get("PYOCO_LOG_FORMAT") ?? "text" };

  const port = args.port ?? String(config.httpPort);
  let gatewayUrl = "";
  const gateway = new Deno.Command(Deno.execPath(), {
    args: ["run", ...GATEWAY_PERMISSIONS, "cli/gateway.ts", "--port", port],
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  children.push({ name: "gateway", proc: gateway });
  pipe("gateway", gateway, (line) => {
    const m = line.match(/https?:\/\/[^\s"]+/);
    if (!gatewayUrl && m && /listening/i.test(line)) gatewayUrl = m[0];
  });
  const flows = args.flows ?? ["examples/flows.ts", "examples/tasks.ts"];
  const worker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...WORKER_PERMISSIONS,
      "cli/worker.ts",
      ...flows.flatMap((f) => ["--flows", f]),
      "--worker-id",
      "dev-worker",
    ],
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  children.push({ name: "worker", proc: worker });
  pipe("worker", worker, () => {});

  const exited = Promise.race(
    children.map((c) => c.proc.status.then((s) => ({ name: c.name, code: s.code }))),
  );
  const ready = await Promise.race([
    waitFor(() => Promise.resolve(gatewayUrl !== ""), 30_000),
    exited.then(() => false),
  ]);
  if (!ready) {
    console.error("The gateway did not start; see its log lines above.");
    await stopAll();
    return 1;
  }
  say("");
  say(`Gateway:   ${gatewayUrl}`);
  say(`Dashboard: ${gatewayUrl}/`);
  say(`Health:    curl -s ${gatewayUrl}/health`);
  say(
    `Submit:    curl -s -X POST ${gatewayUrl}/runs -H 'content-type: application/json' ` +
      `-d '{"flow_name":"hello","params":{"x":2}}'`,
  );
  say(`Watch:     curl -s ${gatewayUrl}/runs/<run_id>`);
  say(
    `YAML:      curl -s -X POST ${gatewayUrl}/runs/yaml -F workflow=@examples/flow.yaml ` +
      `-F flow_name=demo`,
  );
  say("Press Ctrl-C to stop.");

  const stop = new Promise<string>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve("SIGINT"));
    Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM"));
  });
  const why = await Promise.race([stop, exited.then((e) => `${e.name} exited (${e.code})`)]);
  say(`Stopping (${why})…`);
  await stopAll();
  return why.startsWith("SIG") ? 0 : 1;
}

function say(line: string): void {
  console.log(`[dev] ${line}`);
}

function pipe(
  name: string,
  proc: Deno.ChildProcess,
  onLine: (line: string) => void,
  show: (line: string) => boolean = () => true,
): void {
  const pad = name.padEnd(7);
  for (const stream of [proc.stdout, proc.stderr]) {
    (async () => {
      let buf = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          onLine(line);
          if (show(line)) console.log(`[${pad}] ${line}`);
        }
      }
    })().catch(() => {});
  }
}

async function reachable(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

if (import.meta.main) Deno.exit(await main());
