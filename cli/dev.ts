/**
 * `deno task dev`: the whole stack on one machine. Starts nats-server with a temp store when
 * none answers at PYOCO_NATS_URL, then the gateway and one worker with the examples; prints the
 * URL and a ready-to-paste curl once the gateway is ready; Ctrl-C stops everything. Thin: the
 * stack lives in `src/host/dev_stack.ts`.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { parseFlags, UsageError } from "../src/cli/usage.ts";
import { runDevStack } from "../src/host/dev_stack.ts";

const HELP = `Usage: deno task dev [--port N] [--nats-port N] [--flows PATH]…

Starts a local nats-server (temp JetStream store) unless one answers at PYOCO_NATS_URL,
then the gateway and one worker with the examples. Ctrl-C stops everything.

  --port N        gateway port (default PYOCO_HTTP_PORT, 8000)
  --nats-port N   port of the nats-server it starts (default: the port of PYOCO_NATS_URL)
  --flows PATH    flows module for the worker (repeatable; default examples/flows.ts and
                  examples/tasks.ts)
  -h, --help      this text`;

function _port(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new UsageError(`${name} must be a port number from 1 to 65535, got "${raw}"`);
  }
  return n;
}

async function main(): Promise<number> {
  let args;
  let port: number | undefined;
  let natsPort: number | undefined;
  try {
    args = parseFlags(cliArgs(), {
      port: { type: "string" },
      "nats-port": { type: "string" },
      flows: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    });
    if (args.positionals.length > 0) {
      throw new UsageError(`Unexpected argument "${args.positionals[0]}"`);
    }
    port = _port(args.values.port, "--port");
    natsPort = _port(args.values["nats-port"], "--nats-port");
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    console.log(HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return 2;
  }
  const stopped = new Promise<string>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve("SIGINT"));
    Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM"));
  });
  return await runDevStack({
    port: port ?? config.httpPort,
    natsPort,
    natsUrls: config.natsUrl,
    flows: args.values.flows ?? ["examples/flows.ts", "examples/tasks.ts"],
    natsServerBin: Deno.env.get("PYOCO_NATS_SERVER_BIN"),
    logFormat: Deno.env.get("PYOCO_LOG_FORMAT"),
    say: (line) => console.log(`[dev] ${line}`),
    warn: (line) => console.error(line),
    stopped,
  });
}

if (import.meta.main) Deno.exit(await main());
