/**
 * Who is calling: the `authenticate(req)` dependency of {@linkcode createApp}. Route code only
 * sees a {@linkcode Principal} (or `null` when auth is off), so it is auth-agnostic.
 *
 * @module
 */

import { ErrId } from "../contract/errors.ts";
import { ApiKeyStoreUnavailableError } from "../auth/errors.ts";
import type { ApiKeyVerification } from "../auth/verifier.ts";
import { HttpError, natsUnavailable } from "./errors.ts";
import type { Principal } from "../runs/principal.ts";

export type { Principal };

/**
 * Decide who sent a request: a {@linkcode Principal}, or `null` when authentication is off
 * (every run visible, runs carry no tenant). Refusals are thrown as {@linkcode HttpError}
 * (401 ERR-PYOCO-0014, 403 ERR-PYOCO-0015, 503 ERR-PYOCO-0003).
 */
export type Authenticate = (req: Request) => Promise<Principal | null>;

/**
 * The authenticator of `PYOCO_HTTP_AUTH_MODE=none`.
 *
 * @returns Always `null`.
 */
export function noAuth(): Promise<Principal | null> {
  return Promise.resolve(null);
}

/** The part of `ApiKeyVerifier` the gateway uses. */
export interface KeyVerifier {
  /** Check a presented key (`null` when absent). */
  verify(apiKey: string | null): Promise<ApiKeyVerification>;
}

/**
 * The authenticator of `PYOCO_HTTP_AUTH_MODE=api_key`: reads the key header and asks the
 * verifier. The key is never logged nor echoed.
 *
 * @param verifier The verifier, or a function giving it (`null` while NATS is not ready).
 * @param header The key header (`PYOCO_HTTP_API_KEY_HEADER`).
 * @returns The authenticator.
 */
export function apiKeyAuthenticator(
  verifier: KeyVerifier | (() => KeyVerifier | null),
  header: string,
): Authenticate {
  return async (req) => {
    const key = req.headers.get(header);
    if (key === null || key.trim() === "") {
      throw new HttpError(
        401,
        ErrId.apiKeyMissing,
        `API key missing: send it in the ${header} header`,
        {
          headers: { "www-authenticate": `ApiKey header="${header}"` },
        },
      );
    }
    const v = typeof verifier === "function" ? verifier() : verifier;
    if (v === null) throw natsUnavailable("Cannot verify the API key");
    let result: ApiKeyVerification;
    try {
      result = await v.verify(key.trim());
    } catch (err) {
      if (err instanceof ApiKeyStoreUnavailableError) {
        throw natsUnavailable("Cannot verify the API key", err);
      }
      throw err;
    }
    if (!result.ok) {
      if (result.reason === "missing") {
        throw new HttpError(
          401,
          ErrId.apiKeyMissing,
          `API key missing: send it in the ${header} header`,
        );
      }
      throw new HttpError(403, ErrId.apiKeyInvalid, "API key invalid or revoked");
    }
    return { tenantId: result.tenantId, keyId: result.keyId };
  };
}
