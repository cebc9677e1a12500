import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { OAuthError } from '../../src/http/errors.js'
import { HttpError } from '../../src/schemas/common.js'
import { OAuthErrorResponse, TokenRequest, TokenResponse } from '../../src/schemas/token.js'
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

/** POST /token: the token endpoint (RFC 6749 §3.2), password (§4.3) and refresh_token (§6) grants. */
const token: FastifyPluginAsyncTypebox<TokenEndpointOptions> = async (fastify, options) => {
  fastify.post('/token', {
    config: { rateLimit: perAddressLimit(options.rateLimit) },
    schema: {
      tags: ['auth'],
      operationId: 'token',
      summary: 'Get tokens: password login or refresh',
      description: 'RFC 6749 §4.3 (password) and §6 (refresh_token). `grant_type` defaults to `password`, as FastAPI\'s `OAuth2PasswordRequestForm` allows. A refresh token is single use: the response carries its successor.',
      consumes: ['application/x-www-form-urlencoded'],
      body: TokenRequest,
      response: { 200: TokenResponse, ...oauthErrors }
    }
  }, async (request) => {
    const form = request.body
    const clientId = clientIdOf(request.headers.authorization, form)
    const grantType = form.grant_type ?? 'password'
    const sessions = fastify.authSessions

    if (grantType === 'password') {
      if (!form.username || !form.password) throw new OAuthError('invalid_request', 'username and password are required')
      try {
        const { tokens, user } = await sessions.passwordGrant({
          username: form.username, password: form.password, scope: form.scope, clientId, userAgent: request.headers['user-agent']
        })
        request.log.info({ event: 'login', outcome: 'success', userId: user.id }, 'login succeeded')
        return tokens
      } catch (error) {
        request.log.info({ event: 'login', outcome: 'failure', username: form.username.slice(0, 64) }, 'login failed')
        throw error
      }
    }
    if (grantType === 'refresh_token') {
      if (!form.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required')
      const { tokens, user } = await sessions.refreshGrant({ refreshToken: form.refresh_token, scope: form.scope, clientId })
      request.log.info({ event: 'refresh', userId: user.id }, 'tokens refreshed')
      return tokens
    }
    throw new OAuthError('unsupported_grant_type', 'grant_type must be password or refresh_token')
  })
}

export default token
