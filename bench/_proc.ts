/**
 * Child processes of the harness: spawn a Deno script, wait for its `READY` line, keep its output,
 * stop it (SIGTERM, then SIGKILL) and await its exit.
 *
 * @module
 */

/** A running child started by {@linkcode spawnReady}. */
export interface ReadyProcess {
  /** The child's pid. */
  readonly pid: number;
  /** Everything the child printed so far. */
  logs(): string;
  /** SIGTERM, SIGKILL after `graceMs`, await exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode spawnReady}. */
export interface SpawnReadyOptions {
  /** Extra environment. */
  env?: Record<string, string>;
  /** Give up waiting for `READY` after this long. @default {30000} */
  timeoutMs?: number;
  /** The program. @default Deno.execPath() */
  command?: string;
  /** The line that says the child is ready. @default {"READY"} */
  readyLine?: string | RegExp;
}

/**
 * Spawn a process and wait until it prints its ready line.
 *
 * @param args Arguments (for Deno: `["run", "-A", "bench/x.ts", ...]`).
 * @param options Environment, timeout, program and ready line.
 * @returns The running process.
 * @throws {Error} When it exits or stays silent before the ready line (with its output).
 */
export async function spawnReady(
  args: string[],
  options: SpawnReadyOptions = {},
): Promise<ReadyProcess> {
  const child = new Deno.Command(options.command ?? Deno.execPath(), {
    args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const ready = options.readyLine ?? "READY";
  let resolveReady!: () => void;
  const isReady = new Promise<void>((r) => (resolveReady = r));
  const check = () => {
    const hit = typeof ready === "string"
      ? out.split("\n").some((l) => l.trim() === ready)
      : ready.test(out);
    if (hit) resolveReady();
  };
  const decoder = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) {
      out += decoder.decode(chunk, { stream: true });
      if (out.length > 200_000) out = out.slice(-100_000);
      check();
    }
  };
  const pump = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    isReady.then(() => "ready" as const),
    status.then(() => "exited" as const),
    new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs))),
  ]);
  clearTimeout(timer);
  const stop = async (graceMs = 5000) => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, graceMs);
      await status;
      clearTimeout(killer);
    }
    await pump.catch(() => {});
  };
  if (outcome !== "ready") {
    await stop(500);
    throw new Error(
      `Process ${args.join(" ")} ${
        outcome === "exited" ? "exited" : `was not ready in ${timeoutMs} ms`
      }:\n${out.slice(-4000)}`,
    );
  }
  return { pid: child.pid, logs: () => out, stop };
}

/**
 * The path of a file in `bench/`, for spawning it.
 *
 * @param name File name in `bench/`.
 * @returns Absolute path.
 */
export function benchFile(name: string): string {
  return new URL(`./${name}`, import.meta.url).pathname;
}
