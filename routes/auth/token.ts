import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { OAuthError } from '../../src/http/errors.js'
import { HttpError } from '../../src/schemas/common.js'
import { MfaRequiredResponse, OAuthErrorResponse, Param, TokenResponse } from '../../src/schemas/token.js'
import { clientIdOf } from './client-auth.js'

export interface TokenEndpointOptions {
  /** requests per minute per client address (0: off); failed logins per account are the auth plugin's */
  rateLimit: number
}

/** The error responses of both OAuth endpoints (RFC 6749 §5.2), for their schemas. */
export const oauthErrors = {
  400: Type.Ref(OAuthErrorResponse, { description: 'RFC 6749 §5.2 error' }),
  401: Type.Ref(OAuthErrorResponse, { description: 'invalid_client' }),
  429: Type.Ref(HttpError, { description: 'Too many requests from this address, or too many failed logins for this account (see Retry-After)' }),
  503: Type.Ref(HttpError, { description: 'Too many logins in progress (see Retry-After)' })
}

/** Per-address rate limit of an OAuth endpoint, as @fastify/rate-limit's route config. */
export const perAddressLimit = (max: number) => max > 0 ? { max, timeWindow: '1 minute' } : false

/** The log's `event` of a token request: `login` for the password grant, as the brute-force logs count them. */
const eventOf = (grantType: string) => grantType === 'password' ? 'login' : grantType === 'refresh_token' ? 'refresh' : 'token'

/**
 * POST /token: the token endpoint (RFC 6749 §3.2). It dispatches on `grant_type` to the grant
 * registry (src/grants: `password` — the default, as FastAPI's form allows — and `refresh_token`,
 * plus any an app registers with `fastify.authGrants.register`); the form's schema, and so the
 * OpenAPI document, is made of the registered grants' parameters.
 */
const token: FastifyPluginAsyncTypebox<TokenEndpointOptions> = async (fastify, options) => {
  const grants = fastify.authGrants
  const types = grants.types()
  // Unknown parameters are ignored (RFC 6749 §3.2), so no additionalProperties: false; a parameter
  // sent twice arrives as an array and fails these string types.
  const body = Type.Object({
    grant_type: Param(256, `one of ${types.map(t => `\`${t}\``).join(', ')}; default \`password\`, as in FastAPI`, ['password']),
    ...grants.parameters(),
    client_id: Param(200, 'optional: public clients need none', ['']),
    client_secret: Param(200, 'optional', [''])
  })

  fastify.post('/token', {
    config: { rateLimit: perAddressLimit(options.rateLimit) },
    schema: {
      tags: ['auth'],
      operationId: 'token',
      summary: 'Get tokens: password login or refresh',
      description: 'RFC 6749 §4.3 (password) and §6 (refresh_token). `grant_type` defaults to `password`, as FastAPI\'s `OAuth2PasswordRequestForm` allows. A refresh token is single use: the response carries its successor. ' +
        'An account with two-factor authentication answers 403 `mfa_required` with an `mfa_token` unless `otp` is sent with the password; ' +
        'the login then finishes with `grant_type=http://auth0.com/oauth/grant-type/mfa-otp` (`mfa_token`, `otp`) or `…/mfa-recovery-code` (`mfa_token`, `recovery_code`).',
      consumes: ['application/x-www-form-urlencoded'],
      body,
      response: {
        200: TokenResponse,
        // Issue 21: the password grant for an account with TOTP on, without a valid `otp`.
        403: Type.Ref(MfaRequiredResponse, { description: 'mfa_required: the account has two-factor authentication; send `otp` with the password, or finish with the mfa-otp or mfa-recovery-code grant and this mfa_token' }),
        ...oauthErrors
      }
    }
  }, async (request) => {
    const form = request.body as Record<string, string | undefined>
    const grantType = form.grant_type ?? 'password'
    const grant = grants.get(grantType)
    if (grant === undefined) throw new OAuthError('unsupported_grant_type', `grant_type must be one of: ${grants.types().join(', ')}`)
    try {
      const { tokens, userId } = await grant.handle({ form, clientId: clientIdOf(request.headers.authorization, form), userAgent: request.headers['user-agent'], ip: request.ip })
      request.log.info({ event: eventOf(grantType), grant: grantType, outcome: 'success', userId }, 'tokens issued')
      return tokens
    } catch (error) {
      request.log.info({ event: eventOf(grantType), grant: grantType, outcome: 'failure', username: form.username?.slice(0, 64) }, 'token request refused')
      throw error
    }
  })
}

export default token
