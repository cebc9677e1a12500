import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'
import type { OAuthErrorResponse } from '../schemas/token.js'

/*
 * The errors of the HTTP layer, each with its status. The services throw domain errors
 * (src/errors.ts); plugins/errors.ts maps those. `headers` is applied by Fastify's own handlers
 * too, so the challenges survive in apps that keep the default handler.
 */

/** The body of every 401 and 403 of a protected route: Fastify's error shape, nothing more. */
export interface ChallengeBody { statusCode: 401 | 403, error: string, message: string }

/**
 * An RFC 6750 §3 refusal at a protected route: 401 or 403, its `WWW-Authenticate` challenge, and
 * the contract's body `{statusCode, error, message}`. It has no `code`: Fastify's default error
 * handler would add one to the body (and only on routes without a 401/403 response schema, which
 * serialise through HttpError), so the body would depend on the route. Routes protected through
 * `config.scopes` or `onRequest: [app.authenticate]` answer `body` themselves (plugins/auth/protect.ts),
 * under any error handler; thrown elsewhere, Fastify's default handler answers the same body.
 */
export class BearerChallengeError extends Error {
  override name = 'BearerChallengeError'
  readonly headers: { 'www-authenticate': string }
  constructor (
    readonly statusCode: 401 | 403,
    /** why, for the logs: RFC 6750's error code, or `missing_token` when none was sent */
    readonly reason: 'missing_token' | 'invalid_token' | 'insufficient_scope',
    message: string,
    challenge: string
  ) {
    super(message)
    this.headers = { 'www-authenticate': challenge }
  }

  get body (): ChallengeBody {
    return { statusCode: this.statusCode, error: STATUS_CODES[this.statusCode]!, message: this.message }
  }
}

// RFC 6750 §3: no error code when no token was sent; invalid_token / insufficient_scope otherwise.
export const missingToken = () => new BearerChallengeError(401, 'missing_token', 'Not authenticated', 'Bearer')
export const invalidToken = () => new BearerChallengeError(401, 'invalid_token', 'Could not validate credentials', 'Bearer error="invalid_token"')
export const insufficientScope = (scopes: readonly string[]) => new BearerChallengeError(
  403, 'insufficient_scope', `Not enough permissions: scope ${scopes.join(' ')} required`,
  `Bearer error="insufficient_scope", scope="${scopes.join(' ')}"`
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
