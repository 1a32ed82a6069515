/**
 * Stored records as the HTTP API shows them, shared by the gateway, the admin CLI and the
 * dashboard. (A worker as shown, `WorkerView`, lives with its liveness rule in `workers.ts`.)
 *
 * @module
 */

import type { DlqMessage } from "./wire.ts";

/** A dead letter with its stream sequence: one entry of `GET /dlq` and `GET /dlq/{seq}`. */
export interface DeadLetter extends DlqMessage {
  /** Stream sequence (the id used by replay). */
  seq: number;
  /**
   * Runs this entry was replayed as, oldest first (SPEC §15; kept in KV, since stream messages
   * are immutable). Empty when it was never replayed.
   */
  replayed_as?: string[];
}
