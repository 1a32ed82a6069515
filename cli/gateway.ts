/**
 * `deno task gateway` (compiled: `pyoco-gateway`): the HTTP gateway.
 *
 * ```
 * deno task gateway [--host 127.0.0.1] [--port 8000]
 * ```
 *
 * Flags override `PYOCO_HTTP_HOST` / `PYOCO_HTTP_PORT`; everything else comes from the
 * environment (and `.env`). An invalid value exits 2 naming the variable; SIGINT/SIGTERM close
 * the gateway gracefully and exit 0.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../src/config.ts";
import { ErrId } from "../src/contract/errors.ts";
import { gatewayLogger, startGateway } from "../src/gateway/server.ts";

const _USAGE = `Usage: pyoco-gateway [--host HOST] [--port PORT]

Runs the @pyoco/server HTTP gateway.

Options:
  --host HOST   Listen address (overrides PYOCO_HTTP_HOST, default 127.0.0.1)
  --port PORT   Listen port, 0 for any free port (overrides PYOCO_HTTP_PORT, default 8000)
  -h, --help    Show this help

Every other setting comes from PYOCO_* environment variables (see docs/config.md).`;

/**
 * Run the gateway until SIGINT/SIGTERM.
 *
 * @param args Command-line arguments.
 * @returns The exit code: 0 after a graceful stop, 2 for bad flags or configuration.
 */
export async function main(args: string[]): Promise<number> {
  let values: { host?: string; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(_USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig({
      envOverrides: { PYOCO_HTTP_HOST: values.host, PYOCO_HTTP_PORT: values.port },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const logger = gatewayLogger(config);
  let gateway;
  try {
    gateway = await startGateway(config, { logger });
  } catch (err) {
    logger.error("Cannot start the gateway", { err_id: ErrId.configInvalid }, err);
    return 2;
  }
  const { promise: stopped, resolve } = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const h = () => resolve(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  const outcome = await Promise.race([stopped, gateway.failed]);
  if (outcome instanceof Error) logger.info("Stopping the gateway: it cannot go on");
  else logger.info("Stopping the gateway", { signal: outcome });
  await gateway.close();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  return outcome instanceof Error ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(cliArgs()));
