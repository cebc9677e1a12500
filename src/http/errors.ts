import createError from '@fastify/error'
import type { OAuthErrorResponse } from '../schemas/token.js'

/*
 * The errors of the HTTP layer, each with its status (@fastify/error). The services throw
 * domain errors (src/services/errors.ts); plugins/errors.ts maps those. `headers` is applied by
 * Fastify's own handlers too, so the challenges survive in apps that keep the default handler.
 */

type Challenge = { headers: Record<string, string> }
const withHeaders = <E extends Error>(error: E, headers: Record<string, string>): E & Challenge =>
  Object.assign(error, { headers })

const MissingTokenError = createError('AUTH_MISSING_TOKEN', 'Not authenticated', 401)
const InvalidTokenError = createError('AUTH_INVALID_TOKEN', 'Could not validate credentials', 401)
const InsufficientScopeError = createError('AUTH_INSUFFICIENT_SCOPE', 'Not enough permissions: scope %s required', 403)

// RFC 6750 §3: no error code when no token was sent; invalid_token / insufficient_scope otherwise.
export const missingToken = () => withHeaders(new MissingTokenError(), { 'www-authenticate': 'Bearer' })
export const invalidToken = () => withHeaders(new InvalidTokenError(), { 'www-authenticate': 'Bearer error="invalid_token"' })
export const insufficientScope = (scopes: readonly string[]) => withHeaders(
  new InsufficientScopeError(scopes.join(' ')),
  { 'www-authenticate': `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"` }
)

export const RateLimitedError = createError('APP_RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429)

/** An RFC 6749 §5.2 error of the token and revocation endpoints: 401 for invalid_client, else 400. */
export class OAuthError extends Error {
  override name = 'OAuthError'
  readonly statusCode: number
  constructor (readonly error: OAuthErrorResponse['error'], readonly description: string, readonly headers?: Record<string, string>) {
    super(description)
    this.statusCode = error === 'invalid_client' ? 401 : 400
  }

  get body (): OAuthErrorResponse {
    return { error: this.error, error_description: this.description }
  }
}
