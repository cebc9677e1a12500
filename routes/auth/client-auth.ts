import { OAuthError } from '../../src/http/errors.js'
import type { ClientRegistry } from '../../src/services/oauth-clients.js'

/** The client a token or revocation request names, and the secret it presents, if any. */
export interface ClientCredentials {
  clientId: string | undefined
  /** the secret presented (HTTP Basic or `client_secret`); undefined when none (public clients, or Swagger UI's empty pair) */
  secret: string | undefined
  /** the credentials came in the Authorization header (a failure then answers a Basic challenge) */
  basic: boolean
}

const CHALLENGE = { 'www-authenticate': 'Basic realm="token"' }

/**
 * The client of a token or revocation request (RFC 6749 §2.3): HTTP Basic credentials or
 * client_id/client_secret in the form. Public clients send no secret, and Swagger UI sends an
 * empty Basic pair (":") when its client fields are blank. Parses only; authenticateClient checks.
 * @throws OAuthError invalid_client (401) for malformed credentials, invalid_request (400) for two mechanisms at once
 */
export function clientCredentialsOf (authorization: string | undefined, form: { client_id?: string, client_secret?: string }): ClientCredentials {
  const secretInForm = form.client_secret !== undefined && form.client_secret !== ''
  if (authorization !== undefined && /^basic(\s|$)/i.test(authorization)) {
    // RFC 6749 §2.3: one authentication mechanism per request.
    if (secretInForm) throw new OAuthError('invalid_request', 'Client credentials in both the Authorization header and the body')
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon === -1) throw new OAuthError('invalid_client', 'Malformed client credentials', CHALLENGE)
    // RFC 6749 §2.3.1: both parts are form-urlencoded
    const [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)].map(part => {
      try { return decodeURIComponent(part.replace(/\+/g, ' ')) } catch { return '\u0000' }
    }) as [string, string]
    if (id.includes('\u0000') || secret.includes('\u0000')) throw new OAuthError('invalid_client', 'Client authentication failed', CHALLENGE)
    if (form.client_id !== undefined && form.client_id !== '' && form.client_id !== id) {
      throw new OAuthError('invalid_request', 'client_id differs from the Authorization header')
    }
    return { clientId: id === '' ? form.client_id || undefined : id, secret: secret === '' ? undefined : secret, basic: true }
  }
  return { clientId: form.client_id === '' ? undefined : form.client_id, secret: secretInForm ? form.client_secret : undefined, basic: false }
}

/**
 * The client of a request, authenticated when it presents a secret: the secret must be the one
 * registered for that confidential client (src/services/oauth-clients.ts: SHA-256 compared in
 * constant time, or argon2id). `authenticated` is false when no secret was presented; whether the
 * client needed one is the grant's to decide (a confidential client's authorization code does).
 * @throws OAuthError invalid_client (401, with a Basic challenge for header credentials) for a wrong secret or an unknown client; see clientCredentialsOf
 */
export async function authenticateClient (authorization: string | undefined, form: { client_id?: string, client_secret?: string }, clients: ClientRegistry): Promise<{ clientId: string | undefined, authenticated: boolean }> {
  const { clientId, secret, basic } = clientCredentialsOf(authorization, form)
  if (secret === undefined) return { clientId, authenticated: false }
  if (clientId === undefined || !await clients.authenticate(clientId, secret)) {
    throw new OAuthError('invalid_client', 'Client authentication failed', basic ? CHALLENGE : undefined)
  }
  return { clientId, authenticated: true }
}
