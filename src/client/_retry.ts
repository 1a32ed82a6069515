/**
 * Backoff and signal combination for the client (the abortable sleep is `abortableSleep` in
 * `src/contract/_util.ts`). Web APIs only.
 *
 * @module
 */

/**
 * Delay before retry number `retry` (1-based): exponential from `baseDelayMs`, capped at
 * `maxDelayMs`, with "equal jitter" (a random point in the upper half) so that many clients do not
 * retry in lockstep.
 */
export function _backoffDelay(
  retry: number,
  policy: { baseDelayMs: number; maxDelayMs: number; random?: () => number },
): number {
  const { baseDelayMs, maxDelayMs, random = Math.random } = policy;
  const exp = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return exp / 2 + random() * (exp / 2);
}

/**
 * `AbortSignal.any` where the runtime has it (Deno, Node ≥ 20.3, Bun, browsers), a small
 * equivalent otherwise (Node 18).
 */
export function _anySignal(signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (typeof any === "function") return any.call(AbortSignal, list);
  const controller = new AbortController();
  for (const s of list) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => controller.abort(s.reason), {
      once: true,
      signal: controller.signal,
    });
  }
  return controller.signal;
}
