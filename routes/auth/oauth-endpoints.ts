import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { Type } from '@sinclair/typebox'
import { OAuthError } from '../../src/errors.js'
import { identityKey } from '../../src/services/identifiers.js'
import { HttpError } from '../../src/schemas/common.js'
import { OAuthError as OAuthErrorSchema, RevokeRequest, TokenRequest, TokenResponse } from '../../src/schemas/token.js'
import { clientIdOf } from './client-auth.js'

export interface OAuthEndpointsOptions {
  /** requests per minute per client address (0: off) */
  rateLimit: number
  /** password attempts per username per 15 minutes (0: off) */
  usernameRateLimit: number
}

const FORM = 'application/x-www-form-urlencoded'
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

const oauthErrors = {
  400: Type.Ref(OAuthErrorSchema, { description: 'RFC 6749 §5.2 error' }),
  401: Type.Ref(OAuthErrorSchema, { description: 'invalid_client' }),
  429: Type.Ref(HttpError, { description: 'Too many requests (see Retry-After)' })
}

/**
 * POST /token and POST /token/revoke: OAuth endpoints, so their errors are RFC 6749 §5.2
 * bodies with no-store headers, rendered by this scope's own error handler.
 */
const oauthEndpoints: FastifyPluginAsyncTypebox<OAuthEndpointsOptions> = async (fastify, options) => {
  // Only these endpoints read forms (@fastify/formbody: https://github.com/fastify/fastify-formbody);
  // /register takes JSON only, so a cross-site HTML form cannot post to it.
  await fastify.register(formbody)
  fastify.addHook('onRequest', async (_request, reply) => { reply.headers(NO_STORE) })
  // RFC 6749 §3.2: the token endpoint takes form parameters only; JSON is an invalid request.
  fastify.addHook('preValidation', async (request) => {
    if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith(FORM)) {
      throw new OAuthError('invalid_request', `Content-Type must be ${FORM}`)
    }
  })

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof OAuthError) {
      request.log.info({ oauthError: error.error }, 'token request refused')
      return reply.code(error.statusCode).headers({ ...NO_STORE, ...error.headers }).send(error.body)
    }
    // Malformed or missing parameters, an unparsable body, a media type we do not read.
    const status = error.statusCode ?? 500
    if (error.validation !== undefined || status === 400 || status === 415) {
      return reply.code(400).headers(NO_STORE).send({ error: 'invalid_request', error_description: error.message })
    }
    throw error
  })

  const rateLimit = options.rateLimit > 0 ? { max: options.rateLimit, timeWindow: '1 minute' } : false
  // A second limit per username, whoever asks: slows credential guessing spread over many addresses.
  const perUsername = options.usernameRateLimit > 0 && fastify.hasDecorator('rateLimit')
    ? fastify.rateLimit({
      max: options.usernameRateLimit,
      timeWindow: '15 minutes',
      keyGenerator: request => `login:${identityKey((request.body as { username?: string }).username ?? '')}`
    })
    : undefined

  fastify.post('/token', {
    config: { rateLimit },
    preHandler: async (request, reply) => {
      if (perUsername !== undefined && (request.body.grant_type ?? 'password') === 'password') await perUsername.call(fastify, request, reply)
    },
    schema: {
      tags: ['auth'],
      summary: 'Get tokens: password login or refresh',
      description: 'RFC 6749 §4.3 (password) and §6 (refresh_token). `grant_type` defaults to `password`, as FastAPI\'s `OAuth2PasswordRequestForm` allows. A refresh token is single use: the response carries its successor.',
      consumes: [FORM],
      body: TokenRequest,
      response: { 200: TokenResponse, ...oauthErrors }
    }
  }, async (request) => {
    const form = request.body
    const clientId = clientIdOf(request.headers.authorization, form)
    const grantType = form.grant_type ?? 'password'
    const service = fastify.authService

    if (grantType === 'password') {
      if (!form.username || !form.password) throw new OAuthError('invalid_request', 'username and password are required')
      try {
        const { tokens, user } = await service.passwordGrant({
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
      const { tokens, user } = await service.refreshGrant({ refreshToken: form.refresh_token, scope: form.scope, clientId })
      request.log.info({ event: 'refresh', userId: user.id }, 'tokens refreshed')
      return tokens
    }
    throw new OAuthError('unsupported_grant_type', 'grant_type must be password or refresh_token')
  })

  fastify.post('/token/revoke', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Revoke a token (RFC 7009)',
      description: 'Ends the session of a refresh or access token. Answers 200 for unknown tokens too.',
      consumes: [FORM],
      body: RevokeRequest,
      response: { 200: Type.Unsafe<undefined>({ description: 'Revoked, or nothing to revoke (empty body)' }), ...oauthErrors }
    }
  }, async (request, reply) => {
    clientIdOf(request.headers.authorization, request.body)
    if (!request.body.token) throw new OAuthError('invalid_request', 'token is required')
    const revoked = await fastify.authService.revoke(request.body.token, request.body.token_type_hint)
    request.log.info({ event: 'revoke', revoked }, 'revocation request')
    return reply.code(200).send(undefined)
  })
}

export default oauthEndpoints
