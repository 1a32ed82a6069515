/**
 * `pyoco-worker`: pull jobs for some tags and run them with the registered flows.
 *
 * ```sh
 * deno task worker -- --flows ./examples/flows.ts --tags default,gpu --concurrency 2
 * ```
 *
 * Runs with the least Deno permissions (see `docs/worker.md`): `--allow-net`,
 * `--allow-env=PYOCO_*,NATS_*` (plus the flows' `expose_env` names, added by the operator) and
 * `--allow-read=.`. SIGINT/SIGTERM drain gracefully; a second signal stops at once (except the
 * other signal within a second of the first: a Ctrl-C reaching the process group while a
 * supervisor forwards its own SIGTERM is one request).
 *
 * NATS that cannot be reached at start is waited for, with backoff, each attempt logged
 * ("Waiting for NATS …"); a signal meanwhile stops the worker cleanly.
 *
 * Exit codes: 0 stopped cleanly, 1 a fatal error (e.g. NATS refused the credentials), 2 bad
 * flags or config.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { type Config, ConfigError, loadConfig } from "../src/config.ts";
import { TAG_PATTERN } from "../src/contract/wire.ts";
import { TENANT_PATTERN } from "../src/contract/tenancy.ts";
import { Logger } from "../src/log.ts";
import { loadRegistry, type Registry } from "../src/host/registry.ts";
import { parseFlags, UsageError } from "../src/cli/usage.ts";
import { PyocoWorker, WorkerOptionError } from "../src/worker/worker.ts";

const USAGE = `Usage: pyoco-worker [options]

Pull jobs for some tags from NATS JetStream and run them with the registered flows.

Options:
  --flows PATH         Module exporting flows/tasks (repeatable; default: none, only
                       flow.yaml jobs with the built-in pyoco:* tasks can run)
  --tags a,b           Tags to consume (default: PYOCO_DEFAULT_TAG, "default")
  --tenants a,b|*      Tenants to serve with PYOCO_TENANT_ISOLATION=namespaced (default *:
                       every tenant, including new ones; docs/tenancy.md)
  --worker-id ID       Worker id (default: <hostname or "worker">-<random>)
  --concurrency N      Runs at once (default: PYOCO_WORKER_CONCURRENCY, 1)
  --nats-url URL       NATS server(s), comma-separated (overrides PYOCO_NATS_URL)
  -h, --help           Show this help

Every other setting comes from PYOCO_* environment variables (see docs/config.md).
SIGINT/SIGTERM drain gracefully (PYOCO_WORKER_DRAIN_TIMEOUT_SEC); a second signal stops at once.
NATS that cannot be reached at start is waited for, with backoff (logged).
`;

/** A default worker id: `<hostname>-<random>`, without asking for permissions we lack. */
function _defaultWorkerId(): string {
  let host = "worker";
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      host = Deno.hostname();
    } else if (
      Deno.permissions.querySync({ name: "env", variable: "HOSTNAME" }).state === "granted"
    ) {
      host = Deno.env.get("HOSTNAME") ?? host;
    }
  } catch { /* keep "worker" */ }
  host = host.replace(/[^-_a-zA-Z0-9]/g, "-").slice(0, 64) || "worker";
  return `${host}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The worker's flags, in `parseFlags` form (a typo gets "Did you mean"). */
const _OPTIONS = {
  flows: { type: "string", multiple: true },
  tags: { type: "string" },
  tenants: { type: "string" },
  "worker-id": { type: "string" },
  concurrency: { type: "string" },
  "nats-url": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function _parse(args: string[]) {
  const parsed = parseFlags(args, _OPTIONS);
  if (parsed.positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument "${
        parsed.positionals[0]
      }" (every option is a --flag, e.g. --flows PATH)`,
    );
  }
  const v = parsed.values;
  let concurrency: number | undefined;
  if (v.concurrency !== undefined) {
    concurrency = Number(v.concurrency);
    if (!/^\d+$/.test(v.concurrency) || concurrency < 1 || concurrency > 1024) {
      throw new UsageError(
        `Invalid --concurrency ${
          JSON.stringify(v.concurrency)
        }: expected an integer from 1 to 1024`,
      );
    }
  }
  let tags: string[] | undefined;
  if (v.tags !== undefined) {
    tags = v.tags.split(",").map((t) => t.trim()).filter((t) => t !== "");
    if (tags.length === 0) throw new UsageError("Invalid --tags: expected at least one tag");
    for (const tag of tags) {
      if (!TAG_PATTERN.test(tag)) {
        throw new UsageError(
          `Invalid --tags: ${JSON.stringify(tag)} is not a tag (1 to 64 letters, digits, _ or -)`,
        );
      }
    }
  }
  return {
    help: v.help === true,
    flows: v.flows ?? [],
    tags,
    tenants: _tenants(v.tenants),
    workerId: v["worker-id"],
    concurrency,
    natsUrl: v["nats-url"],
  };
}

/** `--tenants a,b` or `*` (the default). */
function _tenants(text: string | undefined): string[] | "*" {
  if (text === undefined || text.trim() === "*") return "*";
  const tenants = text.split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (tenants.length === 0) throw new UsageError("Invalid --tenants: expected * or tenant ids");
  for (const t of tenants) {
    if (!TENANT_PATTERN.test(t)) {
      throw new UsageError(
        `Invalid --tenants: ${
          JSON.stringify(t)
        } is not a tenant id (1 to 64 letters, digits, _ or -)`,
      );
    }
  }
  return tenants;
}

/** The worker's logger, as configured. */
function _logger(config: Config): Logger {
  return new Logger({
    service: "pyoco-server:worker",
    logger: "pyoco.worker",
    level: config.logLevel,
    format: config.logFormat,
    utc: config.logUtc,
    includeTraceback: config.logIncludeTraceback,
  });
}

/** The flows of `--flows`, or `null` after explaining on stderr why they cannot be loaded. */
async function _registry(flows: string[]): Promise<Registry | null> {
  try {
    return await loadRegistry(flows);
  } catch (err) {
    const message = (err as Error).message;
    console.error(`pyoco-worker: Cannot load --flows: ${message}`);
    if (/Requires read access/.test(message)) {
      console.error(
        "pyoco-worker: the worker may read only the folder it was allowed (deno task worker: " +
          "--allow-read=.); run it from your project folder, or widen it, e.g. " +
          "deno run --no-prompt --allow-net --allow-env=PYOCO_*,NATS_*,LOG_TOKENS,LOG_STREAM " +
          "--allow-read=.,/path/to/flows cli/worker.ts --flows /path/to/flows/flows.ts " +
          "(docs/worker.md)",
      );
    }
    return null;
  }
}

/** A different signal this soon after the first is the same stop request (Ctrl-C + supervisor). */
const _SAME_STOP_MS = 1000;

/**
 * Wait for NATS (with backoff, saying so), then consume until the first signal; a second
 * signal stops at once (the other kind within a second of the first is the same request).
 */
async function _serve(worker: PyocoWorker, logger: Logger, registry: Registry): Promise<number> {
  const stop = new AbortController();
  let first: { signal: Deno.Signal; at: number } | null = null;
  const onSignal = (signal: Deno.Signal) => {
    if (first === null) {
      first = { signal, at: Date.now() };
      logger.info("Signal received: draining (send it again to stop at once)");
      stop.abort();
    } else if (signal !== first.signal && Date.now() - first.at < _SAME_STOP_MS) {
      // Ctrl-C sends SIGINT to the whole process group while a supervisor (`deno task dev`)
      // forwards a SIGTERM: one stop request, not a user asking twice.
      logger.debug(`${signal} right after ${first.signal}: the same stop request, still draining`);
    } else {
      logger.warn("Second signal: stopping at once");
      worker.forceStop();
    }
  };
  const signalNames: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  const handlers = signalNames.map((s) => [s, () => onSignal(s)] as const);
  for (const [s, handler] of handlers) Deno.addSignalListener(s, handler);
  try {
    try {
      await worker.connect({ waitForNats: true, signal: stop.signal });
    } catch (err) {
      if (stop.signal.aborted) {
        logger.info("Stopped before NATS could be reached");
        return 0;
      }
      logger.error("Cannot start the worker", { err_id: "ERR-PYOCO-0003" }, err);
      return 1;
    }
    logger.info(`Worker ${worker.workerId} ready`, {
      tags: worker.tags,
      concurrency: worker.concurrency,
      flows: [...registry.flows.keys()],
    });
    await worker.run(stop.signal);
    return 0;
  } finally {
    await worker.close();
    for (const [s, handler] of handlers) Deno.removeSignalListener(s, handler);
  }
}

async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = _parse(args);
  } catch (err) {
    console.error(`pyoco-worker: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ envOverrides: { PYOCO_NATS_URL: flags.natsUrl } });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`pyoco-worker: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const logger = _logger(config);
  const registry = await _registry(flags.flows);
  if (registry === null) return 2;
  if (flags.flows.length === 0) {
    logger.warn("No --flows given: only flow.yaml jobs with built-in pyoco:* tasks can run");
  }
  let worker: PyocoWorker;
  try {
    worker = new PyocoWorker({
      config,
      registry,
      tags: flags.tags ?? [config.defaultTag],
      tenants: flags.tenants,
      workerId: flags.workerId ?? _defaultWorkerId(),
      concurrency: flags.concurrency,
      logger,
    });
  } catch (err) {
    if (err instanceof WorkerOptionError) {
      const flag = {
        workerId: "--worker-id",
        tags: "--tags",
        tenants: "--tenants",
        concurrency: "--concurrency",
      }[
        err.option
      ];
      console.error(`pyoco-worker: ${err.message}${flag ? ` (fix ${flag})` : ""}`);
      return 2;
    }
    throw err;
  }
  return await _serve(worker, logger, registry);
}

if (import.meta.main) {
  Deno.exit(await main(cliArgs()));
}
