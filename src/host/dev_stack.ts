/**
 * The dev stack behind `deno task dev`: a nats-server with a temp store (unless one already
 * answers), the gateway and one worker as child processes with their output prefixed, a banner
 * once the gateway is ready (`GET /ready`, SPEC §12), and a clean stop of everything. Deno.
 *
 * @module
 */

import { abortableSleep } from "../contract/_util.ts";
import { GATEWAY_PERMISSIONS, WORKER_PERMISSIONS } from "./permissions.ts";

/** Options of {@linkcode runDevStack}. */
export interface DevStackOptions {
  /** The gateway's port. */
  port: number;
  /** The configured NATS URLs (`PYOCO_NATS_URL`); the first one's port is used or started. */
  natsUrls: readonly string[];
  /** Start a nats-server on this port even if one answers there. @default {the URL's port} */
  natsPort?: number;
  /** Flow modules for the worker. */
  flows: readonly string[];
  /** The nats-server binary. @default {"nats-server"} */
  natsServerBin?: string;
  /** The gateway's log format. @default {"text"} */
  logFormat?: string;
  /** Prints a line of the stack's own (the caller prefixes or not). */
  say: (line: string) => void;
  /** Prints an error line. */
  warn: (line: string) => void;
  /** Resolves (with why) when the stack should stop, e.g. on SIGINT. */
  stopped: Promise<string>;
}

/** The child processes and clean-ups of a running dev stack. */
class _Stack {
  readonly children: { name: string; proc: Deno.ChildProcess }[] = [];
  readonly cleanups: (() => Promise<void>)[] = [];

  /** SIGTERM every child (last started first), wait for them, then run the clean-ups. */
  async stop(): Promise<void> {
    for (const { proc } of [...this.children].reverse()) {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(this.children.map((c) => c.proc.status));
    for (const fn of this.cleanups) await fn();
  }

  /** Resolves when the first child exits. */
  firstExit(): Promise<{ name: string; code: number }> {
    return Promise.race(
      this.children.map((c) => c.proc.status.then((s) => ({ name: c.name, code: s.code }))),
    );
  }
}

/**
 * Run the dev stack until `options.stopped` resolves or a child exits.
 *
 * @example
 * ```ts ignore
 * import { runDevStack } from "./dev_stack.ts";
 * const code = await runDevStack({
 *   port: 8000,
 *   natsUrls: ["nats://127.0.0.1:4222"],
 *   flows: ["examples/flows.ts"],
 *   say: console.log,
 *   warn: console.error,
 *   stopped: new Promise((resolve) => Deno.addSignalListener("SIGINT", () => resolve("SIGINT"))),
 * });
 * ```
 *
 * @param options Ports, flows, where to print, and when to stop.
 * @returns The exit code: 0 after a stop signal, 1 when something failed or a child exited.
 */
export async function runDevStack(options: DevStackOptions): Promise<number> {
  const { say, warn } = options;
  if (await reachable("127.0.0.1", options.port)) {
    warn(
      `Port ${options.port} is in use (is another \`deno task dev\` or gateway running?): ` +
        "stop it, or pass --port N",
    );
    return 1;
  }
  const stack = new _Stack();
  try {
    const natsUrl = await _startNats(stack, options);
    if (natsUrl === null) return 1;
    const env = { PYOCO_NATS_URL: natsUrl, PYOCO_LOG_FORMAT: options.logFormat ?? "text" };
    const gatewayUrl = await _startGatewayAndWorker(stack, { env, options });
    if (gatewayUrl === null) return 1;
    _banner(gatewayUrl, say);
    const why = await Promise.race([
      options.stopped,
      stack.firstExit().then((e) => `${e.name} exited (${e.code})`),
    ]);
    say(`Stopping (${why})…`);
    return why.startsWith("SIG") ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

/** Use the nats-server that answers, or start one; the URL to use, or `null` on failure. */
async function _startNats(stack: _Stack, options: DevStackOptions): Promise<string | null> {
  const natsUrl = options.natsUrls[0] ?? "nats://127.0.0.1:4222";
  const port = options.natsPort ??
    (Number(new URL(natsUrl.replace(/^\w+:/, "http:")).port) || 4222);
  if (options.natsPort === undefined && await reachable("127.0.0.1", port)) {
    options.say(`Using the nats-server already answering at ${natsUrl}`);
    return options.natsUrls.join(",");
  }
  const bin = options.natsServerBin ?? "nats-server";
  const store = await Deno.makeTempDir({ prefix: "pyoco-dev-nats-" });
  stack.cleanups.push(() => Deno.remove(store, { recursive: true }).catch(() => {}));
  let proc: Deno.ChildProcess;
  try {
    proc = new Deno.Command(bin, {
      args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    options.warn(
      `Cannot find nats-server (${bin}). Install it (Debian/Ubuntu: sudo apt-get install -y ` +
        `nats-server; macOS: brew install nats-server) or set PYOCO_NATS_SERVER_BIN.`,
    );
    return null;
  }
  stack.children.push({ name: "nats", proc });
  // nats-server's start-up banner is long; show only its warnings and errors.
  pipeLines(proc, { name: "nats", show: (line) => /\[(WRN|ERR|FTL)\]/.test(line) });
  if (!(await _until(() => reachable("127.0.0.1", port), 10_000))) {
    options.warn(`nats-server did not open port ${port}`);
    return null;
  }
  options.say(`Started nats-server on nats://127.0.0.1:${port} (temp store ${store})`);
  return `nats://127.0.0.1:${port}`;
}

/** Start both; the gateway URL once it is ready, or `null` when it did not start. */
async function _startGatewayAndWorker(
  stack: _Stack,
  { env, options }: { env: Record<string, string>; options: DevStackOptions },
): Promise<string | null> {
  let listening = "";
  const gateway = _spawn(["run", ...GATEWAY_PERMISSIONS, "cli/gateway.ts"], {
    env,
    extra: ["--port", String(options.port)],
  });
  stack.children.push({ name: "gateway", proc: gateway });
  pipeLines(gateway, {
    name: "gateway",
    onLine: (line) => {
      const m = line.match(/https?:\/\/[^\s"]+/);
      if (!listening && m && /listening/i.test(line)) listening = m[0];
    },
  });
  const flows = options.flows.flatMap((f) => ["--flows", f]);
  const worker = _spawn(["run", ...WORKER_PERMISSIONS, "cli/worker.ts"], {
    env,
    extra: [...flows, "--worker-id", "dev-worker"],
  });
  stack.children.push({ name: "worker", proc: worker });
  pipeLines(worker, { name: "worker" });
  const exited = stack.firstExit().then(() => false);
  const ready = await Promise.race([
    _until(async () => listening !== "" && await gatewayReady(listening), 30_000),
    exited,
  ]);
  if (!ready) {
    options.warn("The gateway did not become ready; see its log lines above.");
    return null;
  }
  return listening;
}

function _spawn(
  args: string[],
  { env, extra }: { env: Record<string, string>; extra: string[] },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...args, ...extra],
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
}

function _banner(url: string, say: (line: string) => void): void {
  say("");
  say(`Gateway:   ${url}`);
  say(`Dashboard: ${url}/`);
  say(`Ready:     curl -s ${url}/ready`);
  say(
    `Submit:    curl -s -X POST ${url}/runs -H 'content-type: application/json' ` +
      `-d '{"flow_name":"hello","params":{"x":2}}'`,
  );
  say(`Watch:     curl -s ${url}/runs/<run_id>`);
  say(
    `YAML:      curl -s -X POST ${url}/runs/yaml -F workflow=@examples/flow.yaml ` +
      `-F flow_name=demo`,
  );
  say("CLI:       deno task pyoco -- submit hello --param x=2 --wait");
  say("Press Ctrl-C to stop.");
}

/**
 * Whether the gateway at `url` is ready: `GET /ready` answers 200. A gateway without the route
 * (404) counts as ready once it answers at all.
 *
 * @param url The gateway's base URL.
 * @returns `true` when it is ready.
 */
export async function gatewayReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200 || res.status === 404;
  } catch {
    return false;
  }
}

/**
 * Print a child's stdout and stderr line by line, prefixed with its name.
 *
 * @param proc The child (both streams piped).
 * @param options Its `name`, a hook for every line, and which lines to show.
 */
export function pipeLines(
  proc: Deno.ChildProcess,
  options: { name: string; onLine?: (line: string) => void; show?: (line: string) => boolean },
): void {
  const pad = options.name.padEnd(7);
  for (const stream of [proc.stdout, proc.stderr]) {
    (async () => {
      let buf = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          options.onLine?.(line);
          if (options.show?.(line) ?? true) console.log(`[${pad}] ${line}`);
        }
      }
    })().catch(() => {});
  }
}

/**
 * Whether something accepts TCP connections at `hostname:port`.
 *
 * @param hostname The host.
 * @param port The port.
 * @returns `true` when a connection opens.
 */
export async function reachable(hostname: string, port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Check `cond` every 100 ms until it holds or `timeoutMs` passes. */
async function _until(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await abortableSleep(100);
  }
  return false;
}
