/**
 * Prometheus text exposition (format 0.0.4) of the gateway: run counts from the run index
 * (also per tenant and priority), live workers, DLQ depth, queue depth per tag, and HTTP
 * request counters and latencies (labelled by route pattern, never the raw path, and by a known
 * method or `OTHER`, never the raw method, so a client sending `FOO /x`, `BAR /y`, … cannot add
 * series: the label set stays bounded whatever arrives).
 *
 * @module
 */

/** Content type of the Prometheus text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Upper bounds (seconds) of the latency histogram buckets. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Methods kept as their own label value; any other method is counted as `OTHER`. */
const _KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/**
 * The label value of a request method: itself when it is a standard method, else `OTHER`.
 *
 * @param method The request method as received.
 * @returns A value from a fixed set of eight.
 *
 * @example Usage
 * ```ts
 * import { methodLabel } from "./metrics.ts";
 * import assert from "node:assert/strict";
 * assert.equal(methodLabel("PATCH"), "PATCH");
 * assert.equal(methodLabel("FOO123"), "OTHER");
 * ```
 */
export function methodLabel(method: string): string {
  return _KNOWN_METHODS.has(method) ? method : "OTHER";
}

interface _Series {
  method: string;
  route: string;
  status: string;
  count: number;
}

interface _Histogram {
  method: string;
  route: string;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * Escape a label value for the text format.
 *
 * @param value The raw value.
 * @returns The escaped value (without quotes).
 */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function _num(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** HTTP request counters and the latency histogram, per method and route pattern. */
export class HttpMetrics {
  readonly #counters = new Map<string, _Series>();
  readonly #histograms = new Map<string, _Histogram>();
  readonly #families = new Map<string, { help: string; samples: Map<string, number> }>();

  /**
   * Add to a counter of the gateway's own work (runs swept, schedule slots dispatched, …), shown
   * in the exposition as `# TYPE <name> counter`.
   *
   * @param name The metric name, e.g. `pyoco_runs_swept_total`.
   * @param options Its help text, its labels and how much to add (default 1).
   */
  count(
    name: string,
    options: { help: string; labels?: Record<string, string>; by?: number },
  ): void {
    const family = this.#families.get(name) ?? { help: options.help, samples: new Map() };
    const labels = Object.entries(options.labels ?? {})
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
    family.samples.set(labels, (family.samples.get(labels) ?? 0) + (options.by ?? 1));
    this.#families.set(name, family);
  }

  /**
   * Count one answered request.
   *
   * @param rawMethod HTTP method as received (a non-standard one is counted as `OTHER`).
   * @param route Route pattern (e.g. `/runs/:id`), or `unmatched`.
   * @param status Response status.
   * @param seconds Time to answer.
   */
  observe(rawMethod: string, route: string, status: number, seconds: number): void {
    const method = methodLabel(rawMethod);
    const key = `${method} ${route} ${status}`;
    const series = this.#counters.get(key) ??
      { method, route, status: String(status), count: 0 };
    series.count++;
    this.#counters.set(key, series);
    const hkey = `${method} ${route}`;
    const h = this.#histograms.get(hkey) ??
      { method, route, buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i]!++;
    });
    h.sum += seconds;
    h.count++;
    this.#histograms.set(hkey, h);
  }

  /**
   * The HTTP metric families as text lines.
   *
   * @returns Lines of the exposition (HELP, TYPE, samples).
   */
  lines(): string[] {
    const out = [
      "# HELP pyoco_http_requests_total HTTP requests answered, by method, route and status.",
      "# TYPE pyoco_http_requests_total counter",
    ];
    for (const s of this.#counters.values()) {
      out.push(
        `pyoco_http_requests_total{method="${escapeLabel(s.method)}",route="${
          escapeLabel(s.route)
        }",status="${s.status}"} ${s.count}`,
      );
    }
    out.push(
      "# HELP pyoco_http_request_duration_seconds Time to answer an HTTP request.",
      "# TYPE pyoco_http_request_duration_seconds histogram",
    );
    for (const h of this.#histograms.values()) {
      const labels = `method="${escapeLabel(h.method)}",route="${escapeLabel(h.route)}"`;
      LATENCY_BUCKETS.forEach((le, i) => {
        out.push(
          `pyoco_http_request_duration_seconds_bucket{${labels},le="${le}"} ${h.buckets[i]}`,
        );
      });
      out.push(`pyoco_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`pyoco_http_request_duration_seconds_sum{${labels}} ${_num(h.sum)}`);
      out.push(`pyoco_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    for (const [name, family] of this.#families) {
      out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} counter`);
      for (const [labels, n] of family.samples) {
        out.push(`${name}${labels === "" ? "" : `{${labels}}`} ${_num(n)}`);
      }
    }
    return out;
  }
}

/** The NATS-side numbers of an exposition. */
export interface SystemMetrics {
  /** Runs per status (every status, zeros included). */
  runsByStatus: Record<string, number>;
  /** Workers with a fresh heartbeat that are not STOPPED. */
  workersAlive: number;
  /** Messages in the DLQ stream. */
  dlqMessages: number;
  /** Jobs queued or in flight per tag (every priority and tenant summed). */
  queuePending: Record<string, number>;
  /** Namespaced mode (SPEC §13): jobs queued or in flight per tenant, tag and priority. */
  queuePendingByTenant?: QueuePending[];
  /** `RUNNING` runs per tenant (`_` for runs without a key). */
  runningByTenant?: Record<string, number>;
  /** Runs not yet ended per tenant and priority (rows with a run only). */
  tenantRuns?: TenantRuns[];
}

/** The runs of one tenant and priority that have not ended, from the run index. */
export interface TenantRuns {
  /** The tenant (`_` without a key). */
  tenant: string;
  /** The priority. */
  priority: string;
  /** Runs `PENDING`. */
  pending: number;
  /** Runs `RUNNING`. */
  running: number;
  /** Runs `CANCELLING` (still on a worker). */
  cancelling: number;
}

/** One queue's depth in namespaced mode. */
export interface QueuePending {
  /** The tenant (`_` without a key). */
  tenant: string;
  /** The tag. */
  tag: string;
  /** The priority. */
  priority: string;
  /** Jobs waiting or in flight. */
  pending: number;
}

/**
 * Render the whole exposition.
 *
 * @param system The NATS-side numbers.
 * @param http The HTTP counters.
 * @returns The text body (ends with a newline).
 */
export function renderMetrics(system: SystemMetrics, http: HttpMetrics): string {
  const out = [
    "# HELP pyoco_runs_total Runs in the runs bucket, by status.",
    "# TYPE pyoco_runs_total gauge",
  ];
  for (const [status, n] of Object.entries(system.runsByStatus)) {
    out.push(`pyoco_runs_total{status="${escapeLabel(status)}"} ${n}`);
  }
  out.push(
    "# HELP pyoco_workers_alive_total Workers with a fresh heartbeat.",
    "# TYPE pyoco_workers_alive_total gauge",
    `pyoco_workers_alive_total ${system.workersAlive}`,
    "# HELP pyoco_dlq_messages_total Messages in the dead-letter stream.",
    "# TYPE pyoco_dlq_messages_total gauge",
    `pyoco_dlq_messages_total ${system.dlqMessages}`,
    "# HELP pyoco_queue_pending Jobs waiting or in flight, by tag (namespaced: tenant, tag, priority).",
    "# TYPE pyoco_queue_pending gauge",
  );
  const byTenant = system.queuePendingByTenant;
  if (byTenant === undefined) {
    for (const [tag, n] of Object.entries(system.queuePending).sort(_byKey)) {
      out.push(`pyoco_queue_pending{tag="${escapeLabel(tag)}"} ${n}`);
    }
  } else {
    const rows = byTenant.map((q) => [_labels(q), q.pending] as const).sort(_byKey);
    for (const [labels, n] of rows) out.push(`pyoco_queue_pending{${labels}} ${n}`);
  }
  if (system.runningByTenant !== undefined) {
    out.push(
      "# HELP pyoco_tenant_running Runs RUNNING now, by tenant (_ = runs without an API key).",
      "# TYPE pyoco_tenant_running gauge",
    );
    for (const [tenant, n] of Object.entries(system.runningByTenant).sort(_byKey)) {
      out.push(`pyoco_tenant_running{tenant="${escapeLabel(tenant)}"} ${n}`);
    }
  }
  if (system.tenantRuns !== undefined) out.push(..._tenantRunLines(system.tenantRuns));
  out.push(...http.lines());
  return out.join("\n") + "\n";
}

/** `pyoco_tenant_runs{tenant,priority,status}`: a line per status with runs. */
function _tenantRunLines(rows: TenantRuns[]): string[] {
  const samples: (readonly [string, number])[] = [];
  for (const r of rows) {
    const base = `tenant="${escapeLabel(r.tenant)}",priority="${escapeLabel(r.priority)}"`;
    const byStatus = { PENDING: r.pending, RUNNING: r.running, CANCELLING: r.cancelling };
    for (const [status, n] of Object.entries(byStatus)) {
      if (n > 0) samples.push([`${base},status="${status}"`, n]);
    }
  }
  return [
    "# HELP pyoco_tenant_runs Runs PENDING, RUNNING or CANCELLING now, by tenant, priority and status.",
    "# TYPE pyoco_tenant_runs gauge",
    ...samples.sort(_byKey).map(([labels, n]) => `pyoco_tenant_runs{${labels}} ${n}`),
  ];
}

function _byKey(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function _labels(q: QueuePending): string {
  return `tenant="${escapeLabel(q.tenant)}",tag="${escapeLabel(q.tag)}",priority="${
    escapeLabel(q.priority)
  }"`;
}
