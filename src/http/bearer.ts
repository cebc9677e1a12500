/**
 * The bearer token of an `Authorization` header, by the grammar of RFC 6750 §2.1:
 * `credentials = "Bearer" 1*SP b64token`, the scheme in any case (RFC 9110 §11.1).
 * - `undefined`: no bearer credentials at all (no header, or another scheme such as Basic);
 * - `null`: the Bearer scheme with a malformed or missing token;
 * - otherwise the token.
 */
export function bearerToken (authorization: string | undefined): string | null | undefined {
  if (authorization === undefined) return undefined
  const match = BEARER.exec(authorization)
  if (match === null) return SCHEME.test(authorization) ? null : undefined
  return match[1]!
}

const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i
const SCHEME = /^bearer(?:\s|$)/i
