import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError } from 'fastify'
import { InvalidClientError, InvalidGrantError, InvalidRequestError, InvalidScopeError, MfaRequiredError, UnauthorizedClientError } from '../../src/errors.js'
import { OAuthError } from '../../src/http/errors.js'
import revocation from './revocation.js'
import token, { type TokenEndpointOptions } from './token.js'

const FORM = 'application/x-www-form-urlencoded'
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/** The domain refusals the grants raise, as RFC 6749 §5.2 errors. */
function asOAuthError (error: unknown): OAuthError | undefined {
  if (error instanceof OAuthError) return error
  if (error instanceof InvalidGrantError) return new OAuthError('invalid_grant', error.message)
  if (error instanceof InvalidClientError) return new OAuthError('invalid_client', error.message)
  if (error instanceof InvalidRequestError) return new OAuthError('invalid_request', error.message)
  if (error instanceof InvalidScopeError) return new OAuthError('invalid_scope', error.message)
  if (error instanceof UnauthorizedClientError) return new OAuthError('unauthorized_client', error.message)
  return undefined
}

/**
 * The two OAuth endpoints under one encapsulated scope: the token endpoint (RFC 6749 §3.2)
 * and the revocation endpoint (RFC 7009). They read forms only, every answer carries
 * `Cache-Control: no-store`, and their errors are RFC 6749 §5.2 bodies, rendered here.
 */
const oauth: FastifyPluginAsyncTypebox<TokenEndpointOptions> = async (fastify, options) => {
  // Only these endpoints read forms (@fastify/formbody: https://github.com/fastify/fastify-formbody);
  // /register takes JSON only, so a cross-site HTML form cannot post to it.
  await fastify.register(formbody)
  fastify.addHook('onRequest', async (_request, reply) => { reply.headers(NO_STORE) })
  // RFC 6749 §3.2: form parameters only; JSON is an invalid request.
  fastify.addHook('preValidation', async (request) => {
    if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith(FORM)) {
      throw new OAuthError('invalid_request', `Content-Type must be ${FORM}`)
    }
  })

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    // Issue 21: Auth0's answer for a password grant that needs a second factor.
    if (error instanceof MfaRequiredError) {
      request.log.info({ oauthError: 'mfa_required' }, 'second factor required')
      return reply.code(403).headers(NO_STORE).send({ error: 'mfa_required', error_description: error.message, mfa_token: error.mfaToken })
    }
    const oauthError = asOAuthError(error)
    if (oauthError !== undefined) {
      request.log.info({ oauthError: oauthError.error }, 'token request refused')
      return reply.code(oauthError.statusCode).headers({ ...NO_STORE, ...oauthError.headers }).send(oauthError.body)
    }
    // Malformed or missing parameters, an unparsable body, a media type we do not read.
    const status = error.statusCode ?? 500
    if (error.validation !== undefined || status === 400 || status === 415) {
      return reply.code(400).headers(NO_STORE).send({ error: 'invalid_request', error_description: error.message })
    }
    throw error
  })

  await fastify.register(token, options)
  await fastify.register(revocation, options)
}

export default oauth
