import createError from '@fastify/error'
import type { OAuthError as OAuthErrorBody } from './schemas/token.js'

/*
 * Every failure is a named error with a code and an HTTP status; the error handler
 * (plugins/errors.ts) renders them. `headers` is applied by Fastify's handlers too, so the
 * auth plugin's challenges survive in apps that keep Fastify's default error handler.
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

export const NotFoundError = createError('APP_NOT_FOUND', '%s not found', 404)
export const ConflictError = createError('APP_CONFLICT', '%s', 409)
export const BadRequestError = createError('APP_BAD_REQUEST', '%s', 400)
export const RateLimitedError = createError('APP_RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429)
export const UnavailableError = createError('APP_UNAVAILABLE', 'Service temporarily unavailable', 503)

/** An RFC 6749 §5.2 error of the token and revocation endpoints. */
export class OAuthError extends Error {
  override name = 'OAuthError'
  readonly statusCode: number
  constructor (readonly error: OAuthErrorBody['error'], readonly description: string, readonly headers?: Record<string, string>) {
    super(description)
    this.statusCode = error === 'invalid_client' ? 401 : 400
  }

  get body (): OAuthErrorBody {
    return { error: this.error, error_description: this.description }
  }
}

/** One message for every failed password or refresh grant, so it tells nothing about why. */
export const invalidGrant = () => new OAuthError('invalid_grant', 'Incorrect username or password, or invalid refresh token')
