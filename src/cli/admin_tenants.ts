/**
 * `pyoco-admin tenant set|get|list` (SPEC §13): per-tenant limits in the tenants bucket
 * (`PYOCO_TENANTS_KV_BUCKET`). `tenant set` also applies the limit at once, in namespaced mode,
 * as `max_ack_pending` of the tenant's existing consumers.
 *
 * @module
 */

import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { Config } from "../config.ts";
import { PRIORITIES, TENANT_PATTERN } from "../contract/tenancy.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import { ensureConsumer } from "../nats/resources.ts";
import { InvalidRequestError } from "../runs/errors.ts";
import {
  applyTenantLimit,
  effectiveMaxRunning,
  listTenantLimits,
  readTenantLimits,
  setTenantLimits,
  TENANT_LIMITS,
  type TenantLimits,
  tenantMaxAckPending,
  validateTenantLimits,
} from "../runs/tenants.ts";
import { adminFailure, type AdminIo, withNats } from "./_admin_common.ts";
import { table } from "./format.ts";
import { UsageError } from "./usage.ts";

/** The flags the tenant commands read. */
export interface TenantFlags {
  /** `--max-running N` (set). */
  "max-running"?: string;
  /** `--weight W` (set). */
  weight?: string;
  /** `--tags a,b` (set): create the tenant's consumers of these tags now (namespaced mode). */
  tags?: string;
  /** `--json`. */
  json?: boolean;
  /** `--nats-url URL`. */
  "nats-url"?: string;
}

/** A tenant command line, checked. */
type _TenantRequest =
  | { action: "list" }
  | { action: "get"; tenant: string }
  | { action: "set"; tenant: string; maxRunning?: number; weight?: number; tags: string[] };

/**
 * Run `tenant set TENANT --max-running N [--weight W]`, `tenant get TENANT` or `tenant list`.
 *
 * @param action `set`, `get` or `list`.
 * @param options The arguments after the action, the flags and where to write.
 * @returns The exit code: 0 ok, 1 failure, 2 usage.
 */
export async function runTenant(
  action: string | undefined,
  options: { args: string[]; values: TenantFlags; io: AdminIo },
): Promise<number> {
  const { values, io } = options;
  const command = `tenant ${action ?? ""}`.trim();
  try {
    const request = _parseTenant(action, options.args, values);
    await withNats(values["nats-url"], async (nc, config, { tenants }) => {
      if (request.action === "list") {
        const all = await listTenantLimits(tenants);
        _print(all, { config, json: values.json, io });
      } else if (request.action === "get") {
        const rec = await readTenantLimits(tenants, request.tenant);
        _print([rec ?? _unset(request.tenant)], { config, json: values.json, single: true, io });
      } else {
        const rec = await setTenantLimits(tenants, request);
        const jsm = await jetstreamManager(nc, { timeout: 5000 });
        const maxAckPending = tenantMaxAckPending(config, rec);
        const created = await _ensureConsumers(jsm, config, {
          tenant: rec.tenant_id,
          tags: request.tags,
          maxAckPending,
        });
        const changed = await applyTenantLimit(jsm, config, {
          tenant: rec.tenant_id,
          maxAckPending,
        });
        if (values.json) {
          io.out(JSON.stringify({ ...rec, consumers: created, consumers_changed: changed }));
        } else {
          _print([rec], { config, io });
          if (created.length > 0) io.out(`Consumers: ${created.join(", ")}`);
          if (changed.length > 0) io.out(`Applied to consumers: ${changed.join(", ")}`);
        }
      }
    });
    return 0;
  } catch (err) {
    if (err instanceof InvalidRequestError) {
      io.err(err.message);
      return 2;
    }
    return adminFailure(err, command, io, []);
  }
}

function _parseTenant(
  action: string | undefined,
  args: string[],
  values: TenantFlags,
): _TenantRequest {
  if (action === "list") {
    if (args.length > 0) throw new UsageError(`tenant list takes no argument, got "${args[0]}"`);
    return { action };
  }
  if (action !== "get" && action !== "set") {
    throw new UsageError(`Unknown command "tenant ${action ?? ""}"`.trim());
  }
  if (args.length !== 1 || !TENANT_PATTERN.test(args[0]!)) {
    throw new UsageError(
      `tenant ${action} needs one tenant id (1 to 64 letters, digits, _ or -): tenant ${action} T`,
    );
  }
  const tenant = args[0]!;
  if (action === "get") return { action, tenant };
  const tags = values.tags === undefined
    ? []
    : values.tags.split(",").map((t) => t.trim()).filter((t) => t !== "");
  const bad = tags.find((t) => !TAG_PATTERN.test(t));
  if (bad !== undefined || (values.tags !== undefined && tags.length === 0)) {
    throw new UsageError(
      `--tags must list tags (1 to 64 letters, digits, _ or -), got "${values.tags}"`,
    );
  }
  const maxRunning = _int(values["max-running"], "--max-running", TENANT_LIMITS.maxRunning);
  const weight = _int(values.weight, "--weight", TENANT_LIMITS.weight);
  if (maxRunning === undefined && weight === undefined && tags.length === 0) {
    throw new UsageError(
      "tenant set needs --max-running N (0 = unlimited), --weight W and/or --tags a,b",
    );
  }
  validateTenantLimits({ tenant, maxRunning, weight });
  return { action, tenant, maxRunning, weight, tags };
}

/**
 * Namespaced mode: create the tenant's consumers of `tags` (every priority) with its limit, so
 * workers whose NATS user may not create consumers (docs/tenancy.md) find them.
 */
async function _ensureConsumers(
  jsm: JetStreamManager,
  config: Config,
  options: { tenant: string; tags: string[]; maxAckPending: number },
): Promise<string[]> {
  if (config.tenantIsolation !== "namespaced" || options.tags.length === 0) return [];
  const out: string[] = [];
  for (const tag of options.tags) {
    for (const priority of PRIORITIES) {
      out.push(
        await ensureConsumer(jsm, config, {
          tenant: options.tenant,
          tag,
          priority,
          maxAckPending: options.maxAckPending,
        }),
      );
    }
  }
  return out;
}

function _int(text: string | undefined, flag: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,7}$/.test(text) || Number(text) > max) {
    throw new UsageError(`${flag} must be a whole number from 0 to ${max}, got "${text}"`);
  }
  return Number(text);
}

function _unset(tenant: string): TenantLimits {
  return { tenant_id: tenant, max_running: null, weight: 1, updated_at: 0 };
}

function _print(
  recs: TenantLimits[],
  options: { config: Config; json?: boolean; single?: boolean; io: AdminIo },
): void {
  const { config, io } = options;
  const rows = recs.map((r) => ({ ...r, effective_max_running: effectiveMaxRunning(config, r) }));
  if (options.json) {
    io.out(JSON.stringify(options.single ? rows[0] : rows));
    return;
  }
  if (rows.length === 0) {
    io.out(`No tenant limits set (default PYOCO_TENANT_MAX_RUNNING=${config.tenantMaxRunning}).`);
    return;
  }
  io.out(
    table(
      ["TENANT", "MAX_RUNNING", "EFFECTIVE", "WEIGHT", "UPDATED"],
      rows.map((r) => [
        r.tenant_id,
        r.max_running === null ? "(default)" : String(r.max_running),
        r.effective_max_running === 0 ? "unlimited" : String(r.effective_max_running),
        String(r.weight),
        r.updated_at ? new Date(r.updated_at * 1000).toISOString() : "",
      ]),
    ).trimEnd(),
  );
}
