/**
 * API-key authentication: key generation and parsing, pyoco-server-compatible records, the
 * KV-backed {@linkcode ApiKeyStore}, the gateway's cached {@linkcode ApiKeyVerifier} and the
 * pepper check ({@linkcode checkPepper}).
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
export {
  checkPepper,
  PEPPER_FINGERPRINT_KV_KEY,
  PEPPER_FINGERPRINT_LABEL,
  pepperFingerprint,
  recordPepper,
} from "./pepper.ts";
export type {
  CheckPepperOptions,
  PepperBucket,
  PepperCheck,
  PepperFingerprintRecord,
} from "./pepper.ts";
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
  PepperMismatchError,
} from "./errors.ts";
export type { ApiKeyFormatProblem, PepperMismatch } from "./errors.ts";
