/**
 * The HTTP gateway: request handler, server, and the pieces routes are built from.
 *
 * @module
 */

export { createApp } from "./app.ts";
export type { AppDeps, Handler } from "./app.ts";
export { apiKeyAuthenticator, noAuth } from "./auth.ts";
export type { Authenticate, KeyVerifier, Principal } from "./auth.ts";
export { natsCall, openBackend } from "./backend.ts";
export type { GatewayBackend, OpenBackendOptions } from "./backend.ts";
export { readBodyCapped, readJsonBody, readMultipartBody } from "./body.ts";
export { HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
export type { FieldError, HttpErrorOptions } from "./errors.ts";
export { HttpMetrics, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
export { RunIndex } from "./run_index.ts";
export type { IndexedRun, RunIndexOptions, RunIndexQuery } from "./run_index.ts";
export { LIST_LIMIT, RUN_ID_PATTERN } from "./runs.ts";
export { FLOW_NAME_PATTERN, submitRun, validateRunRequest, validateYamlRequest } from "./submit.ts";
export type { RunRequest, SubmitContext, YamlSubmission } from "./submit.ts";
export { gatewayLogger, startGateway } from "./server.ts";
export type { GatewayHandle, StartGatewayOptions } from "./server.ts";
