import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { OAuthError } from '../../src/http/errors.js'
import { requestContext } from '../../src/http/event-context.js'
import { RevokeRequest } from '../../src/schemas/token.js'
import { authenticateClient } from './client-auth.js'
import { oauthErrors, perAddressLimit } from './token.js'

/** POST /token/revoke: the revocation endpoint (RFC 7009). */
const revocation: FastifyPluginAsyncTypebox<{ rateLimit: number }> = async (fastify, options) => {
  fastify.post('/token/revoke', {
    config: { rateLimit: perAddressLimit(options.rateLimit) },
    schema: {
      tags: ['auth'],
      operationId: 'revokeToken',
      summary: 'Revoke a token (RFC 7009)',
      description: 'Ends the session of a refresh or access token. Answers 200 for unknown tokens too. With `X-Token-Transport: cookie` and no `token`: the refresh cookie\'s token, and the cookie is cleared.',
      consumes: ['application/x-www-form-urlencoded'],
      body: RevokeRequest,
      response: { 200: Type.Object({}, { additionalProperties: false, description: 'Revoked, or nothing to revoke: `{}` (RFC 7009 clients ignore the body; JSON-only client libraries need one)' }), ...oauthErrors }
    }
  }, async (request, reply) => {
    // RFC 7009 §2.1: a confidential client that presents its secret is authenticated; the client
    // named (authenticated or public) is the only one whose tokens this request may end.
    const { clientId } = await authenticateClient(request.headers.authorization, request.body, fastify.authCore.clients)
    const cookies = fastify.authCookies
    let token = request.body.token
    // Browser apps: with X-Token-Transport: cookie and no `token`, the refresh cookie's token, then the cookie cleared.
    const fromCookie = !token && cookies.requested(request)
    if (fromCookie) {
      cookies.assertOrigin(request)
      token = cookies.readRefresh(request)
    }
    if (!token) throw new OAuthError('invalid_request', 'token is required')
    const revoked = await fastify.authSessions.revoke(token, fromCookie ? 'refresh_token' : request.body.token_type_hint, clientId, { ...requestContext(request), client_id: clientId ?? null })
    if (fromCookie) cookies.clear(reply)
    request.log.info({ event: 'revoke', revoked, cookie: fromCookie }, 'revocation request')
    return {}
  })
}

export default revocation
