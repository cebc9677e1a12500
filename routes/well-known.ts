import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { JwkSet } from '../src/schemas/jwk.js'

/**
 * The public signing keys (RFC 7517) and the authorization server metadata (RFC 8414).
 * Register it where the auth routes are: the endpoints it advertises are under the same prefix.
 */
const wellKnown: FastifyPluginAsyncTypebox = async (fastify) => {
  const { issuer, jwksMaxAgeSeconds } = fastify.authIssuer
  const origin = issuer.replace(/\/$/, '')
  const base = origin + fastify.prefix

  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['meta'],
      operationId: 'jwks',
      summary: 'Public keys that verify access tokens (empty in HS256 mode)',
      response: { 200: JwkSet }
    }
  }, async (_request, reply) => {
    // Short: a rotated key is published this long before it signs (src/tokens/keys.ts).
    reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
    return fastify.authKeys.jwks()
  })

  fastify.get('/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['meta'],
      operationId: 'authorizationServerMetadata',
      summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
      response: { 200: Type.Object({}, { additionalProperties: true }) }
    }
  }, async () => ({
    issuer,
    token_endpoint: `${base}/token`,
    revocation_endpoint: `${base}/token/revoke`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    scopes_supported: fastify.authScopes.names,
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    service_documentation: `${origin}/docs`
  }))
}

export default wellKnown
