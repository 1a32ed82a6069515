/**
 * What a gateway SIGKILLed after its KV create leaves behind: the bytes of a `PENDING` snapshot
 * whose job never reached the stream (SPEC §11 orphans), written `updated_at` seconds ago.
 *
 * @module
 */

/**
 * The JSON of an orphaned `PENDING` snapshot on tag `default`.
 *
 * @param runId The run id.
 * @param options The flow, its params, the tenant (`null`: none) and its age in seconds.
 * @returns The snapshot's JSON text, for a raw `kv.create`.
 */
export function orphanSnapshotJson(
  runId: string,
  options: {
    flow: string;
    params: Record<string, unknown>;
    tenant?: string | null;
    ageSec?: number;
  },
): string {
  const now = Date.now() / 1000 - (options.ageSec ?? 0);
  return JSON.stringify({
    run_id: runId,
    flow_name: options.flow,
    status: "PENDING",
    params: options.params,
    tasks: {},
    heartbeat_at: now,
    updated_at: now,
    tag: "default",
    tags: ["default"],
    worker_id: null,
    submitted_at: now,
    ...(options.tenant !== undefined ? { tenant_id: options.tenant } : {}),
  });
}
