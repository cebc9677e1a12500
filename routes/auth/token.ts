import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { InvalidGrantError } from '../../src/errors.js'
import { TRANSPORT_HEADER } from '../../src/http/cookie-transport.js'
import { OAuthError } from '../../src/http/errors.js'
import { HttpError } from '../../src/schemas/common.js'
import { MfaRequiredResponse, OAuthErrorResponse, Param, TokenResponse } from '../../src/schemas/token.js'
import { authenticateClient } from './client-auth.js'

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
const eventOf = (grantType: string) => grantType === 'password' ? 'login' : grantType === 'refresh_token' ? 'refresh' : grantType === 'authorization_code' ? 'code' : 'token'

/**
 * POST /token: the token endpoint (RFC 6749 §3.2). It dispatches on `grant_type` to the grant
 * registry (src/grants: `password` — the default, as FastAPI's form allows — `refresh_token` and
 * `authorization_code`,
 * plus any an app registers with `fastify.authGrants.register`); the form's schema, and so the
 * OpenAPI document, is made of the registered grants' parameters.
 */
const token: FastifyPluginAsyncTypebox<TokenEndpointOptions> = async (fastify, options) => {
  const grants = fastify.authGrants
  const cookies = fastify.authCookies
  const sessionTtlSeconds = fastify.authCore.settings.refreshTokenTtlSeconds
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
      summary: 'Get tokens: password login, authorization code or refresh',
      description: 'RFC 6749 §4.3 (password), §4.1.3 with RFC 7636 PKCE (authorization_code: `code`, `redirect_uri`, `client_id`, `code_verifier`; a confidential client authenticates with HTTP Basic or `client_secret`) and §6 (refresh_token). `grant_type` defaults to `password`, as FastAPI\'s `OAuth2PasswordRequestForm` allows. A refresh token is single use: the response carries its successor (the same one again when presented anew within the reuse interval, as tabs refreshing at once do). ' +
        'An account with two-factor authentication answers 403 `mfa_required` with an `mfa_token` unless `otp` is sent with the password; ' +
        'the login then finishes with `grant_type=http://auth0.com/oauth/grant-type/mfa-otp` (`mfa_token`, `otp`) or `…/mfa-recovery-code` (`mfa_token`, `recovery_code`). ' +
        'Browser apps send `X-Token-Transport: cookie`: the refresh token then comes and goes in an HttpOnly cookie, never in the body.',
      headers: Type.Object({ [TRANSPORT_HEADER]: Type.Optional(Type.String({ description: '`cookie`: the refresh token in an HttpOnly cookie (browser apps)', examples: ['cookie'] })) }),
      consumes: ['application/x-www-form-urlencoded'],
      body,
      response: {
        200: TokenResponse,
        // Issue 21: the password grant for an account with TOTP on, without a valid `otp`.
        // A cookie-mode request from an origin that may not use the cookies is a 403 too, in Fastify's error shape.
        403: Type.Union([Type.Ref(MfaRequiredResponse), Type.Ref(HttpError)], { description: 'mfa_required: the account has two-factor authentication; send `otp` with the password, or finish with the mfa-otp or mfa-recovery-code grant and this mfa_token. Or, with X-Token-Transport: cookie, an Origin that may not use the cookies' }),
        ...oauthErrors
      }
    }
  }, async (request, reply) => {
    const form: Record<string, string | undefined> = { ...request.body as Record<string, string | undefined> }
    const grantType = form.grant_type ?? 'password'
    const grant = grants.get(grantType)
    if (grant === undefined) throw new OAuthError('unsupported_grant_type', `grant_type must be one of: ${grants.types().join(', ')}`)
    // Browser apps: the refresh token comes from and goes to its cookie (src/http/cookie-transport.ts).
    const cookieMode = cookies.requested(request)
    let fromCookie = false
    if (cookieMode) {
      cookies.assertOrigin(request) // before anything is read or set
      if (grantType === 'refresh_token' && !form.refresh_token) {
        form.refresh_token = cookies.readRefresh(request)
        fromCookie = form.refresh_token !== undefined
      }
    }
    try {
      const { clientId, authenticated } = await authenticateClient(request.headers.authorization, form, fastify.authCore.clients)
      const { tokens, userId, sessionExpiresAt } = await grant.handle({ form, clientId, clientAuthenticated: authenticated, userAgent: request.headers['user-agent'], ip: request.ip })
      request.log.info({ event: eventOf(grantType), grant: grantType, outcome: 'success', userId }, 'tokens issued')
      if (!cookieMode) return tokens
      cookies.set(reply, tokens, sessionExpiresAt === undefined ? sessionTtlSeconds : (sessionExpiresAt - Date.now()) / 1000)
      const { refresh_token: _inCookie, ...body } = tokens
      return body
    } catch (error) {
      request.log.info({ event: eventOf(grantType), grant: grantType, outcome: 'failure', username: form.username?.slice(0, 64) }, 'token request refused')
      // Only a session that is over loses its cookie: a 429, a 503 or a narrower refusal keeps it.
      if (fromCookie && error instanceof InvalidGrantError && error.sessionEnded) cookies.clear(reply)
      throw error
    }
  })
}

export default token
