/**
 * Who a request acts for, as the run store sees it: the tenant and the API key id (never the
 * key). The gateway's authenticator makes one; `null` means authentication is off.
 *
 * @module
 */

/** An authenticated caller. */
export interface Principal {
  /** Tenant whose runs the caller may see and create. */
  tenantId: string;
  /** Id of the API key used (never the key itself). */
  keyId: string;
}
