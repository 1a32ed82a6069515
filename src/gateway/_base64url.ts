/**
 * base64url without padding (RFC 4648 §5), for opaque cursors.
 *
 * @module
 */

/**
 * Encode bytes as base64url without padding.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Decode base64url without padding; only the canonical encoding is accepted.
 *
 * @param text The text.
 * @returns The bytes, or `null` when the text is not canonical base64url.
 */
export function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  let binary: string;
  try {
    binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return encodeBase64Url(bytes) === text ? bytes : null;
}
