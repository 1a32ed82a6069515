/**
 * API-key authentication: key generation and parsing, pyoco-server-compatible records, the
 * KV-backed {@linkcode ApiKeyStore} and the gateway's cached {@linkcode ApiKeyVerifier}.
 *
 * @module
 */

export {
  API_KEY_KDF,
  API_KEY_PREFIX,
  createApiKeyRecord,
  DEFAULT_PBKDF2_ITERATIONS,
  generateApiKey,
  hashSecret,
  isValidKeyId,
  MAX_PBKDF2_ITERATIONS,
  parseApiKey,
  parseApiKeyRecord,
  publicView,
  timingSafeEqual,
  validateApiKeyLabel,
  validateTenantId,
  verifySecret,
} from "./keys.ts";
export type {
  ApiKeyPublicView,
  ApiKeyRecord,
  CreateApiKeyRecordOptions,
  GeneratedApiKey,
  HashSecretOptions,
  ParsedApiKey,
  SecretHash,
  VerifySecretOptions,
} from "./keys.ts";
export { API_KEYS_KV_PREFIX, apiKeyKvKey, ApiKeyStore } from "./store.ts";
export type {
  ApiKeyStoreOptions,
  CreateApiKeyInput,
  CreatedApiKey,
  ListApiKeysOptions,
} from "./store.ts";
export { ApiKeyVerifier } from "./verifier.ts";
export type {
  ApiKeyFailureReason,
  ApiKeyVerification,
  ApiKeyVerifierOptions,
  ApiKeyVerifierStats,
  ConnectionStatusEvent,
  ConnectionStatusSource,
} from "./verifier.ts";
export {
  ApiKeyFormatError,
  ApiKeyNotFoundError,
  ApiKeyStoreUnavailableError,
  InvalidApiKeyLabelError,
  InvalidApiKeyRecordError,
  InvalidAuthOptionError,
  InvalidTenantIdError,
} from "./errors.ts";
export type { ApiKeyFormatProblem } from "./errors.ts";
