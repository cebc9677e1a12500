import { OAuthError } from '../../src/http/errors.js'

/**
 * The client of a token or revocation request (RFC 6749 §2.3): HTTP Basic credentials or
 * client_id/client_secret in the form. Public clients send no secret, and Swagger UI sends an
 * empty Basic pair (":") when its client fields are blank. This server registers no
 * confidential clients, so a secret it is asked to check is a failed client authentication.
 * @throws OAuthError invalid_client (401) for failed authentication, invalid_request (400) for two mechanisms at once
 */
export function clientIdOf (authorization: string | undefined, form: { client_id?: string, client_secret?: string }): string | undefined {
  const secretInForm = form.client_secret !== undefined && form.client_secret !== ''
  if (authorization !== undefined && /^basic(\s|$)/i.test(authorization)) {
    // RFC 6749 §2.3: one authentication mechanism per request.
    if (secretInForm) throw new OAuthError('invalid_request', 'Client credentials in both the Authorization header and the body')
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const challenge = { 'www-authenticate': 'Basic realm="token"' }
    if (colon === -1) throw new OAuthError('invalid_client', 'Malformed client credentials', challenge)
    // RFC 6749 §2.3.1: both parts are form-urlencoded
    const [id, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)].map(part => {
      try { return decodeURIComponent(part.replace(/\+/g, ' ')) } catch { return '\u0000' }
    }) as [string, string]
    if (secret !== '' || id.includes('\u0000')) throw new OAuthError('invalid_client', 'Client authentication failed', challenge)
    if (form.client_id !== undefined && form.client_id !== '' && form.client_id !== id) {
      throw new OAuthError('invalid_request', 'client_id differs from the Authorization header')
    }
    return id === '' ? form.client_id || undefined : id
  }
  if (secretInForm) {
    throw new OAuthError('invalid_client', 'Client authentication failed')
  }
  return form.client_id === '' ? undefined : form.client_id
}
