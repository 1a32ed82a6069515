/**
 * Error and message ids, kept from pyoco-server (`ERR-PYOCO-00NN` / `MSG-PYOCO-00NN`).
 * New ids continue from 0017; every id is listed in `docs/spec.md`.
 *
 * @module
 */

/** Every error id, by meaning. The MSG id shares the number. */
export const ErrId = {
  gatewayUnreachable: "ERR-PYOCO-0001",
  invalidRequest: "ERR-PYOCO-0002",
  natsUnavailable: "ERR-PYOCO-0003",
  orphanCleanupFailed: "ERR-PYOCO-0004",
  runNotFound: "ERR-PYOCO-0005",
  flowNotFound: "ERR-PYOCO-0006",
  executionFailed: "ERR-PYOCO-0007",
  terminalWriteFailed: "ERR-PYOCO-0008",
  inProgressFailed: "ERR-PYOCO-0009",
  snapshotTooLarge: "ERR-PYOCO-0010",
  dlqPublishFailed: "ERR-PYOCO-0011",
  invalidJob: "ERR-PYOCO-0012",
  loggingFailed: "ERR-PYOCO-0013",
  apiKeyMissing: "ERR-PYOCO-0014",
  apiKeyInvalid: "ERR-PYOCO-0015",
  workflowYamlTooLarge: "ERR-PYOCO-0016",
  // New in @pyoco/server:
  bodyTooLarge: "ERR-PYOCO-0017",
  idempotencyConflict: "ERR-PYOCO-0018",
  notFound: "ERR-PYOCO-0019",
  methodNotAllowed: "ERR-PYOCO-0020",
  dlqEntryNotFound: "ERR-PYOCO-0021",
  workerNotFound: "ERR-PYOCO-0022",
  internal: "ERR-PYOCO-0023",
  configInvalid: "ERR-PYOCO-0024",
  scheduleNotFound: "ERR-PYOCO-0025",
  scheduleDispatchFailed: "ERR-PYOCO-0026",
  runNotTerminal: "ERR-PYOCO-0027",
  orphanRepublished: "ERR-PYOCO-0028",
  runIdAmbiguous: "ERR-PYOCO-0029",
} as const;

/** An error id string. */
export type ErrIdValue = typeof ErrId[keyof typeof ErrId];

/** The `MSG-PYOCO-00NN` that shares the number of `errId`. */
export function msgIdFor(errId: string): string {
  return errId.replace(/^ERR-/, "MSG-");
}
