/**
 * The one home of NATS subject and consumer names (SPEC §3, §13), in both tenant modes
 * (`PYOCO_TENANT_ISOLATION`). Everything that publishes, consumes, filters or parses a work, DLQ,
 * events or cancel subject, or names a worker consumer, goes through these functions.
 *
 * - `shared` (default): the names of pyoco-server 0.4, byte for byte — `pyoco.work.<tag>`,
 *   `pyoco_workers_<tag>`, `pyoco.dlq.<tag>`, `pyoco.events.<run>`, `pyoco.cancel.<run>`.
 * - `namespaced`: the tenant is inserted after the first token of each prefix —
 *   `pyoco.<tenant>.work.<tag>`, `pyoco.<tenant>.dlq.<tag>`, `pyoco.<tenant>.events.<run>`,
 *   `pyoco.<tenant>.cancel.<run>` — and consumers are `pyoco_workers_<tenant>_<tag>`.
 *
 * Priority (SPEC §13) is carried by the subject: a `normal` job has no suffix (so a pyoco-server
 * 0.4 worker on `pyoco.work.<tag>` takes it as before), `high` and `low` jobs go to
 * `<work subject>.high` / `.low` (one more token, so they never match a 0.4 consumer's filter)
 * and are consumed by their own durable consumers, named with `-high` / `-low` after the
 * consumer prefix: `pyoco_workers-high_<tag>`, `pyoco_workers-high_<tenant>_<tag>`.
 *
 * Consumer name sanitising: tenant ids and tags are `[A-Za-z0-9_-]{1,64}`, all legal in a
 * consumer name, so nothing is replaced; but `_` is also the separator, so a tenant that
 * contains `_` would make names ambiguous (`a_b`+`c` and `a`+`b_c`). The tenant `_` (runs without
 * a key) stays literal (`pyoco_workers___<tag>`: no other tenant token starts with `_`); any
 * other tenant with a `_` is written with `-` for `_` plus `-` and 8 hex digits of its FNV-1a
 * hash (`a_b` → `a-b-8a3c0f1e`), which no tenant without `_` produces by accident.
 *
 * Run snapshot keys of the runs bucket follow the same modes ({@linkcode runKey}): the run id
 * itself in shared mode (pyoco-server 0.4), `<tenant>.<run_id>` in namespaced mode, so that NATS
 * permissions on `$KV.<bucket>.<tenant>.>` fence a tenant's workers off other tenants' runs.
 *
 * @module
 */

import type { Config } from "./types.ts";
import { DEFAULT_PRIORITY, NO_TENANT, type Priority, TENANT_PATTERN } from "../contract/tenancy.ts";
import { RUN_ID_PATTERN } from "../contract/wire.ts";

/** Where a job goes: its tag, and in namespaced mode its tenant and priority. */
export interface WorkRoute {
  /** The tag (work queue). */
  tag: string;
  /** The tenant (`null`/absent → `_`); ignored in shared mode. */
  tenant?: string | null;
  /** The priority. @default {"normal"} */
  priority?: Priority | null;
}

/** Options of the per-run subjects ({@linkcode eventsSubject}, {@linkcode cancelSubject}). */
export interface RunSubjectOptions {
  /** The run's tenant (`null`/absent → `_`); ignored in shared mode. */
  tenant?: string | null;
}

/** A work subject taken apart by {@linkcode parseWorkSubject}. */
export interface ParsedWorkSubject {
  /** The tenant (`null` in shared mode, where the subject does not carry it). */
  tenant: string | null;
  /** The tag. */
  tag: string;
  /** The priority (`normal` without a suffix). */
  priority: Priority;
}

function _route(route: string | WorkRoute): WorkRoute {
  return typeof route === "string" ? { tag: route } : route;
}

function _namespaced(config: Config): boolean {
  return config.tenantIsolation === "namespaced";
}

/** `<first token>.<tenant>.<rest>` of a prefix (`pyoco.work` → `pyoco.<tenant>.work`). */
function _withTenant(prefix: string, tenant: string): string {
  const dot = prefix.indexOf(".");
  return dot < 0 ? `${prefix}.${tenant}` : `${prefix.slice(0, dot)}.${tenant}${prefix.slice(dot)}`;
}

/** The prefix of one kind of subject for a tenant (or `*`) in the configured mode. */
function _prefix(config: Config, prefix: string, tenant: string | null | undefined): string {
  return _namespaced(config) ? _withTenant(prefix, tenant || NO_TENANT) : prefix;
}

function _suffix(priority: Priority | null | undefined): string {
  const p = priority ?? DEFAULT_PRIORITY;
  return p === DEFAULT_PRIORITY ? "" : `.${p}`;
}

/**
 * The work subject of a job: `pyoco.work.<tag>` (shared) or `pyoco.<tenant>.work.<tag>`
 * (namespaced), with `.high` / `.low` appended for those priorities.
 *
 * @param config The configuration (mode and `PYOCO_WORK_SUBJECT_PREFIX`).
 * @param route The tag, or `{tag, tenant, priority}`.
 * @returns The subject.
 *
 * @example
 * ```ts
 * import { loadConfig, workSubject } from "../config.ts";
 * import assert from "node:assert/strict";
 * const shared = loadConfig({ env: {}, envFile: false });
 * assert.equal(workSubject(shared, "gpu"), "pyoco.work.gpu");
 * assert.equal(workSubject(shared, { tag: "gpu", priority: "high" }), "pyoco.work.gpu.high");
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.equal(workSubject(ns, { tag: "gpu", tenant: "acme" }), "pyoco.acme.work.gpu");
 * assert.equal(workSubject(ns, "gpu"), "pyoco._.work.gpu");
 * ```
 */
export function workSubject(config: Config, route: string | WorkRoute): string {
  const r = _route(route);
  return `${_prefix(config, config.workSubjectPrefix, r.tenant)}.${r.tag}${_suffix(r.priority)}`;
}

/**
 * The work stream's subject filter: `pyoco.work.>` (shared) or `pyoco.*.work.>` (namespaced),
 * or one tenant's work, `pyoco.<tenant>.work.>`.
 *
 * @param config The configuration.
 * @param tenant One tenant (namespaced mode only); every tenant by default.
 * @returns The wildcard subject.
 *
 * @example
 * ```ts
 * import { loadConfig, workFilter } from "../config.ts";
 * import assert from "node:assert/strict";
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.equal(workFilter(ns), "pyoco.*.work.>");
 * assert.equal(workFilter(ns, "acme"), "pyoco.acme.work.>");
 * ```
 */
export function workFilter(config: Config, tenant = "*"): string {
  return `${_prefix(config, config.workSubjectPrefix, tenant)}.>`;
}

/**
 * Take a work subject apart (for queue metrics and the DLQ's `subject` field).
 *
 * @param config The configuration.
 * @param subject A subject of the work stream.
 * @returns Tenant (namespaced only), tag and priority; `null` when it is not a work subject of
 *   the configured mode.
 *
 * @example
 * ```ts
 * import { loadConfig, parseWorkSubject } from "../config.ts";
 * import assert from "node:assert/strict";
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.deepEqual(parseWorkSubject(ns, "pyoco.acme.work.gpu.low"),
 *   { tenant: "acme", tag: "gpu", priority: "low" });
 * ```
 */
export function parseWorkSubject(config: Config, subject: string): ParsedWorkSubject | null {
  return _parse(config, config.workSubjectPrefix, subject, true);
}

/**
 * Take a DLQ subject apart.
 *
 * @param config The configuration.
 * @param subject A subject of the DLQ stream.
 * @returns Tenant (namespaced only) and tag (priority is always `normal`: dead letters carry
 *   none); `null` when it is not a DLQ subject of the configured mode.
 */
export function parseDlqSubject(config: Config, subject: string): ParsedWorkSubject | null {
  return _parse(config, config.dlqSubjectPrefix, subject, false);
}

function _parse(
  config: Config,
  prefix: string,
  subject: string,
  withPriority: boolean,
): ParsedWorkSubject | null {
  const want = prefix.split(".");
  const got = subject.split(".");
  let tenant: string | null = null;
  if (_namespaced(config) && want.length > 0) {
    tenant = got[1] ?? null;
    got.splice(1, 1);
  }
  if (got.length < want.length + 1 || want.some((t, i) => got[i] !== t)) return null;
  const rest = got.slice(want.length);
  const tag = rest[0]!;
  const extra = rest[1];
  if (rest.length === 1) return { tenant, tag, priority: DEFAULT_PRIORITY };
  if (withPriority && rest.length === 2 && (extra === "high" || extra === "low")) {
    return { tenant, tag, priority: extra };
  }
  return null;
}

/**
 * The durable consumer of a tag (and tenant, and priority): `pyoco_workers_<tag>` (shared),
 * `pyoco_workers_<tenant>_<tag>` (namespaced); `pyoco_workers-high_…` / `pyoco_workers-low_…`
 * for those priorities. Tenants with `_` are sanitised as the module documentation says.
 *
 * @param config The configuration (mode and `PYOCO_CONSUMER_PREFIX`).
 * @param route The tag, or `{tag, tenant, priority}`.
 * @returns The durable name.
 *
 * @example
 * ```ts
 * import { consumerName, loadConfig } from "../config.ts";
 * import assert from "node:assert/strict";
 * const shared = loadConfig({ env: {}, envFile: false });
 * assert.equal(consumerName(shared, "default"), "pyoco_workers_default");
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.equal(consumerName(ns, { tag: "gpu", tenant: "acme" }), "pyoco_workers_acme_gpu");
 * assert.equal(consumerName(ns, { tag: "gpu", priority: "high" }), "pyoco_workers-high___gpu");
 * ```
 */
export function consumerName(config: Config, route: string | WorkRoute): string {
  const r = _route(route);
  const p = r.priority ?? DEFAULT_PRIORITY;
  const head = p === DEFAULT_PRIORITY ? config.consumerPrefix : `${config.consumerPrefix}-${p}`;
  if (!_namespaced(config)) return `${head}_${r.tag}`;
  return `${head}_${tenantToken(r.tenant || NO_TENANT)}_${r.tag}`;
}

/**
 * A tenant as it appears inside a consumer name: itself, unless it contains `_` (other than
 * the tenant `_`), then `_` → `-` plus `-` and 8 hex digits of its FNV-1a hash.
 *
 * @param tenant A tenant id.
 * @returns The token.
 *
 * @example
 * ```ts
 * import { tenantToken } from "./subjects.ts";
 * import assert from "node:assert/strict";
 * assert.equal(tenantToken("acme"), "acme");
 * assert.equal(tenantToken("_"), "_");
 * assert.match(tenantToken("a_b"), /^a-b-[0-9a-f]{8}$/);
 * ```
 */
export function tenantToken(tenant: string): string {
  if (tenant === NO_TENANT || !tenant.includes("_")) return tenant;
  return `${tenant.replaceAll("_", "-")}-${_fnv1a(tenant)}`;
}

function _fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * The DLQ subject of a tag: `pyoco.dlq.<tag>` (shared) or `pyoco.<tenant>.dlq.<tag>`.
 *
 * @param config The configuration.
 * @param route The tag, or `{tag, tenant}` (a priority is ignored).
 * @returns The subject.
 *
 * @example
 * ```ts
 * import { dlqSubject, loadConfig } from "../config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(dlqSubject(loadConfig({ env: {}, envFile: false }), "x"), "pyoco.dlq.x");
 * ```
 */
export function dlqSubject(config: Config, route: string | WorkRoute): string {
  const r = _route(route);
  return `${_prefix(config, config.dlqSubjectPrefix, r.tenant)}.${r.tag}`;
}

/**
 * The DLQ stream's filter: `pyoco.dlq.>` (shared) or `pyoco.*.dlq.>` (namespaced), or one
 * tenant's dead letters.
 *
 * @param config The configuration.
 * @param tenant One tenant (namespaced mode only); every tenant by default.
 * @returns The wildcard subject.
 */
export function dlqFilter(config: Config, tenant = "*"): string {
  return `${_prefix(config, config.dlqSubjectPrefix, tenant)}.>`;
}

/**
 * The events subject of a run: `pyoco.events.<run>` (shared) or `pyoco.<tenant>.events.<run>`.
 *
 * @param config The configuration.
 * @param runId The run id.
 * @param options The run's tenant (namespaced mode).
 * @returns The subject.
 *
 * @example
 * ```ts
 * import { eventsSubject, loadConfig } from "../config.ts";
 * import assert from "node:assert/strict";
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.equal(eventsSubject(ns, "r1", { tenant: "acme" }), "pyoco.acme.events.r1");
 * ```
 */
export function eventsSubject(
  config: Config,
  runId: string,
  options: RunSubjectOptions = {},
): string {
  return `${_prefix(config, config.eventsSubjectPrefix, options.tenant)}.${runId}`;
}

/**
 * The events stream's filter: `pyoco.events.>` or `pyoco.*.events.>` (or one tenant's).
 *
 * @param config The configuration.
 * @param tenant One tenant (namespaced mode only); every tenant by default.
 * @returns The wildcard subject.
 */
export function eventsFilter(config: Config, tenant = "*"): string {
  return `${_prefix(config, config.eventsSubjectPrefix, tenant)}.>`;
}

/**
 * The cancel notification subject of a run (core NATS, not stored): `pyoco.cancel.<run>` or
 * `pyoco.<tenant>.cancel.<run>`.
 *
 * @param config The configuration.
 * @param runId The run id.
 * @param options The run's tenant (namespaced mode).
 * @returns The subject.
 */
export function cancelSubject(
  config: Config,
  runId: string,
  options: RunSubjectOptions = {},
): string {
  return `${_prefix(config, config.cancelSubjectPrefix, options.tenant)}.${runId}`;
}

/**
 * What a worker subscribes to for cancel notifications: `pyoco.cancel.*`, or
 * `pyoco.<tenant>.cancel.*` / `pyoco.*.cancel.*` in namespaced mode.
 *
 * @param config The configuration.
 * @param tenant One tenant (namespaced mode only); every tenant by default.
 * @returns The wildcard subject (the run id is its last token).
 */
export function cancelFilter(config: Config, tenant = "*"): string {
  return `${_prefix(config, config.cancelSubjectPrefix, tenant)}.*`;
}

/** A runs-bucket key taken apart by {@linkcode parseRunKey}. */
export interface ParsedRunKey {
  /** The tenant (`null` in shared mode, where the key does not carry it). */
  tenant: string | null;
  /** The run id. */
  runId: string;
}

/**
 * The key of a run's snapshot in the runs bucket: the run id (shared mode, pyoco-server 0.4
 * byte for byte) or `<tenant>.<run_id>` (namespaced mode; tenant `_` for runs without one).
 *
 * @param config The configuration (mode).
 * @param runId The run id (`[A-Za-z0-9_-]{1,128}`, never a dot).
 * @param options The run's tenant (namespaced mode; `null`/absent → `_`).
 * @returns The KV key.
 *
 * @example
 * ```ts
 * import { loadConfig, runKey } from "../config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(runKey(loadConfig({ env: {}, envFile: false }), "r1", { tenant: "acme" }), "r1");
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.equal(runKey(ns, "r1", { tenant: "acme" }), "acme.r1");
 * assert.equal(runKey(ns, "r1"), "_.r1");
 * ```
 */
export function runKey(config: Config, runId: string, options: RunSubjectOptions = {}): string {
  return _namespaced(config) ? `${options.tenant || NO_TENANT}.${runId}` : runId;
}

/**
 * Take a runs-bucket key apart (the run index, the sweeper's stream walk).
 *
 * @param config The configuration (mode).
 * @param key A key of the runs bucket.
 * @returns Tenant (namespaced only) and run id (shared mode: the key, as pyoco-server 0.4 reads
 *   it); `null` when a namespaced key is not `<tenant>.<run_id>` (e.g. a bare run id left from
 *   shared mode).
 *
 * @example
 * ```ts
 * import { loadConfig, parseRunKey } from "../config.ts";
 * import assert from "node:assert/strict";
 * const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });
 * assert.deepEqual(parseRunKey(ns, "acme.r1"), { tenant: "acme", runId: "r1" });
 * assert.equal(parseRunKey(ns, "r1"), null);
 * ```
 */
export function parseRunKey(config: Config, key: string): ParsedRunKey | null {
  if (!_namespaced(config)) return { tenant: null, runId: key };
  const dot = key.indexOf(".");
  if (dot < 0) return null;
  const tenant = key.slice(0, dot);
  const runId = key.slice(dot + 1);
  return TENANT_PATTERN.test(tenant) && RUN_ID_PATTERN.test(runId) ? { tenant, runId } : null;
}

/**
 * The KV key filter that finds a run of any tenant: the run id (shared) or `*.<run_id>`
 * (namespaced), for a caller that does not know the run's tenant.
 *
 * @param config The configuration (mode).
 * @param runId The run id.
 * @returns The filter (`kv.keys(filter)`).
 */
export function runKeyFilter(config: Config, runId: string): string {
  return _namespaced(config) ? `*.${runId}` : runId;
}
