/**
 * Start the worker CLI as a real process (`Deno.execPath() run … cli/worker.ts`) with the
 * least-privilege flags of `deno task worker` by default, capture its logs, and wait for its
 * `Worker <id> ready` line.
 *
 * @module
 */

import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { poll, StopPolling } from "./poll.ts";

/** Options of {@linkcode startWorkerProcess}. */
export interface StartWorkerProcessOptions {
  /** `--nats-url`. */
  natsUrl: string;
  /** `--flows` modules (paths relative to the repository root). */
  flows: string[];
  /** `--tags`. @default {["default"]} */
  tags?: string[];
  /** `--worker-id`. @default {`test-worker-<random>`} */
  workerId?: string;
  /** `--concurrency`. */
  concurrency?: number;
  /** `--tenants` (with `PYOCO_TENANT_ISOLATION=namespaced` in `env`). @default {every tenant} */
  tenants?: string[];
  /** More CLI arguments (e.g. `["--tenants", "acme"]`). */
  args?: string[];
  /** Extra environment variables (e.g. `PYOCO_CONSUMER_ACK_WAIT_SEC`). */
  env?: Record<string, string>;
  /** Deno permission flags. @default {WORKER_PERMISSIONS (least privilege)} */
  permissions?: string[];
  /** How long to wait for the ready line, in milliseconds. @default {30000} */
  readyTimeoutMs?: number;
}

/** A running worker process. */
export interface WorkerProcess {
  /** Its process id. */
  readonly pid: number;
  /** Its `--worker-id`. */
  readonly workerId: string;
  /** Everything it wrote so far (stdout and stderr). */
  logs(): string;
  /** Log lines parsed as JSON (non-JSON lines are skipped). */
  records(): Record<string, unknown>[];
  /** Send a signal (default SIGTERM) and wait for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** SIGKILL and wait. */
  kill(): Promise<number>;
  /** Exit code once it exited. */
  readonly exited: Promise<number>;
  /** SIGTERM (SIGKILL after 5 s) unless it has exited. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The repository root (the worker's `--allow-read=.` folder). */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname;

/**
 * Spawn a worker process and wait until it is consuming.
 *
 * @param options NATS URL, flows, tags, env and permissions.
 * @returns The process handle.
 * @throws {Error} When it exits or does not get ready in time (the message has its logs).
 */
export async function startWorkerProcess(
  options: StartWorkerProcessOptions,
): Promise<WorkerProcess> {
  const workerId = options.workerId ?? `test-worker-${crypto.randomUUID().slice(0, 8)}`;
  const args = [
    "run",
    ...(options.permissions ?? WORKER_PERMISSIONS),
    "cli/worker.ts",
    "--nats-url",
    options.natsUrl,
    "--worker-id",
    workerId,
    "--tags",
    (options.tags ?? ["default"]).join(","),
  ];
  for (const f of options.flows) args.push("--flows", f);
  if (options.concurrency !== undefined) args.push("--concurrency", String(options.concurrency));
  if (options.tenants !== undefined) args.push("--tenants", options.tenants.join(","));
  args.push(...(options.args ?? []));
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    })();
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exitCode: number | null = null;
  const exited = child.status.then(async (s) => {
    await pumps;
    exitCode = s.code;
    return s.code;
  });

  const ready = `Worker ${workerId} ready`;
  try {
    await poll(() => {
      if (exitCode !== null) {
        throw new StopPolling(`Worker process exited with ${exitCode} before it was ready`);
      }
      return text.includes(ready);
    }, { timeoutMs: options.readyTimeoutMs ?? 30_000, message: `"${ready}"` });
  } catch (err) {
    if (err instanceof StopPolling) throw new Error(`${err.message}:\n${text}`, { cause: err });
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await exited;
    throw new Error(`Worker process was not ready in time:\n${text}`, { cause: err });
  }

  const signal = async (sig: Deno.Signal) => {
    if (exitCode === null) {
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    }
    return await exited;
  };
  const handle: WorkerProcess = {
    pid: child.pid,
    workerId,
    logs: () => text,
    records: () =>
      text.split("\n").flatMap((line) => {
        try {
          const v = JSON.parse(line);
          return typeof v === "object" && v !== null ? [v as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    stop: (sig: Deno.Signal = "SIGTERM") => signal(sig),
    kill: () => signal("SIGKILL"),
    exited,
    [Symbol.asyncDispose]: async () => {
      if (exitCode !== null) return;
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await signal("SIGTERM");
      clearTimeout(timer);
    },
  };
  return handle;
}
