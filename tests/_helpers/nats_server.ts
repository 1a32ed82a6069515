/**
 * Test launcher for a real nats-server: temp config with a random port, temp JetStream store,
 * waits for the port, keeps the log to print on failure, and on stop kills it, awaits exit and
 * removes the store.
 *
 * @module
 */

import { poll } from "./poll.ts";

/** A running nats-server started by {@linkcode startNatsServer}. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** The client port. */
  readonly port: number;
  /** The JetStream store directory (kept across {@linkcode NatsServerHandle.restart}). */
  readonly storeDir: string;
  /** The server's log so far. */
  log(): string;
  /** Stop the process (SIGTERM, then SIGKILL) without removing the store. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Start it again on the same port and store. */
  restart(): Promise<void>;
  /** Stop and remove the store. */
  stop(): Promise<void>;
  /** Same as {@linkcode NatsServerHandle.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startNatsServer}. */
export interface StartNatsServerOptions {
  /** Extra config text appended to the generated config. */
  extraConfig?: string;
  /** Fixed port (default: a free random one). */
  port?: number;
}

/** Path of the nats-server binary (`PYOCO_NATS_SERVER_BIN` or PATH). */
export function natsServerBin(): string {
  return Deno.env.get("PYOCO_NATS_SERVER_BIN") ?? "nats-server";
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Wait until `127.0.0.1:port` accepts connections.
 *
 * @param port The TCP port.
 * @param timeoutMs How long to try.
 * @throws {PollTimeoutError} When it does not open in `timeoutMs`.
 */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  await poll(async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  }, { timeoutMs, message: `port ${port} to open` });
}

/** Start a JetStream-enabled nats-server on a random port with a temp store. */
export async function startNatsServer(
  options: StartNatsServerOptions = {},
): Promise<NatsServerHandle> {
  const dir = await Deno.makeTempDir({ prefix: "pyoco-nats-" });
  const storeDir = `${dir}/store`;
  const port = options.port ?? freePort();
  const confPath = `${dir}/nats.conf`;
  await Deno.writeTextFile(
    confPath,
    [
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: "${storeDir}" }`,
      options.extraConfig ?? "",
    ].join("\n"),
  );
  let logText = "";
  let child: Deno.ChildProcess | null = null;
  let pump: Promise<void> = Promise.resolve();

  const spawn = async () => {
    child = new Deno.Command(natsServerBin(), {
      args: ["-c", confPath],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) logText += decoder.decode(chunk, { stream: true });
    };
    pump = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
    try {
      await waitForPort(port);
    } catch (err) {
      throw new Error(`nats-server did not start:\n${logText}`, { cause: err });
    }
  };

  const kill = async (signal: Deno.Signal = "SIGTERM") => {
    const running = child;
    if (!running) return;
    child = null;
    try {
      running.kill(signal);
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        running.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await running.status;
    clearTimeout(timer);
    await pump;
  };

  await spawn();
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    log: () => logText,
    kill,
    restart: spawn,
    stop: async () => {
      await kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]: () => handle.stop(),
  };
  return handle;
}
