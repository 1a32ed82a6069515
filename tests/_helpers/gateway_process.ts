/**
 * Test launcher for the gateway as a REAL process: `deno run -A cli/gateway.ts --port 0`,
 * stdout/stderr captured, waits for the log line with its `http://host:port` URL and then for
 * `GET /ready` to answer 200 (SPEC §12; `waitReady: false` for a gateway started without NATS).
 *
 * @module
 */

import { poll, StopPolling } from "./poll.ts";
import { GATEWAY_V8_FLAGS } from "../../src/host/permissions.ts";

/** A running gateway process started by {@linkcode startGatewayProcess}. */
export interface GatewayProcess {
  /** `http://127.0.0.1:<port>` from its log. */
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  logs(): string;
  /** Its exit code once it has exited (`null` while running). */
  exitCode(): number | null;
  /** SIGTERM, then await the exit (SIGKILL after 10 s). Returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL (no shutdown at all), then await the exit. Returns the exit code. */
  kill(): Promise<number>;
  /** Same as {@linkcode GatewayProcess.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startGatewayProcess}. */
export interface StartGatewayProcessOptions {
  /** `PYOCO_NATS_URL`. */
  natsUrl: string;
  /** More environment variables. */
  env?: Record<string, string>;
  /** Extra CLI arguments. */
  args?: string[];
  /** Give up waiting for the URL line (and for `/ready`) after this long. @default {20000} */
  timeoutMs?: number;
  /**
   * Wait until `GET /ready` answers 200 (NATS connected, resources ensured). Turn it off for a
   * gateway that is not meant to get ready (NATS down, a refused pepper).
   * @default {true}
   */
  waitReady?: boolean;
}

const _ROOT = new URL("../../", import.meta.url);

/**
 * Spawn the gateway CLI and wait until it logs its URL.
 *
 * @param options NATS URL, environment and arguments.
 * @returns The running process.
 * @throws {Error} With its log when it exits or does not log a URL in time.
 */
export async function startGatewayProcess(
  options: StartGatewayProcessOptions,
): Promise<GatewayProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      GATEWAY_V8_FLAGS,
      "-A",
      "cli/gateway.ts",
      "--port",
      "0",
      ...(options.args ?? []),
    ],
    cwd: _ROOT,
    env: {
      PYOCO_NATS_URL: options.natsUrl,
      PYOCO_ENV_FILE: "/dev/null",
      PYOCO_HTTP_HOST: "127.0.0.1",
      NO_COLOR: "1",
      ...options.env,
    },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let text = "";
  let code: number | null = null;
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pump = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const exited = child.status.then((s) => {
    code = s.code;
    return s.code;
  });
  let url: string;
  try {
    url = await poll(() => {
      if (code !== null) throw new StopPolling(`The gateway exited (exit ${code})`);
      return text.match(/https?:\/\/[\w.\-\[\]:]+:\d+/)?.[0];
    }, { timeoutMs: options.timeoutMs ?? 20_000, message: "the gateway to log its URL" });
  } catch (err) {
    if (code === null) child.kill("SIGKILL");
    await exited;
    await pump;
    throw new Error(`The gateway did not log its URL (exit ${code}):\n${text}`, { cause: err });
  }
  if (options.waitReady !== false) {
    try {
      await poll(async () => {
        if (code !== null) throw new StopPolling(`The gateway exited (exit ${code})`);
        const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return res.status === 200;
      }, { timeoutMs: options.timeoutMs ?? 20_000, message: "the gateway's /ready to answer 200" });
    } catch (err) {
      if (code === null) child.kill("SIGKILL");
      await exited;
      await pump;
      throw new Error(`The gateway did not get ready (exit ${code}):\n${text}`, { cause: err });
    }
  }
  let stopping: Promise<number> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      if (code === null) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 10_000);
      const result = await exited;
      clearTimeout(timer);
      await pump;
      return result;
    })();
    return stopping;
  };
  const kill = async () => {
    if (code === null) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    return await stop();
  };
  return {
    url,
    logs: () => text,
    exitCode: () => code,
    stop,
    kill,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
