import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { JwkSet } from '../src/schemas/jwk.js'
import { SCOPES } from '../src/schemas/scopes.js'

export interface WellKnownOptions {
  issuer: string
  /** where the auth routes are mounted, e.g. '' or '/auth' */
  authPrefix?: string
}

/** The public signing keys (RFC 7517) and the authorization server metadata (RFC 8414). */
const wellKnown: FastifyPluginAsyncTypebox<WellKnownOptions> = async (fastify, options) => {
  const base = options.issuer.replace(/\/$/, '') + (options.authPrefix ?? '')

  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['meta'],
      summary: 'Public keys that verify access tokens (empty in HS256 mode)',
      response: { 200: JwkSet }
    }
  }, async (_request, reply) => {
    // Short: a rotated key signs at once, and verifiers that cache this set must see it soon.
    reply.header('cache-control', 'public, max-age=60')
    return fastify.authKeys.jwks()
  })

  const metadata = {
    issuer: options.issuer,
    token_endpoint: `${base}/token`,
    revocation_endpoint: `${base}/token/revoke`,
    jwks_uri: `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    scopes_supported: Object.keys(SCOPES),
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    service_documentation: `${options.issuer.replace(/\/$/, '')}/docs`
  }

  fastify.get('/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['meta'],
      summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
      response: { 200: Type.Object({}, { additionalProperties: true }) }
    }
  }, async () => metadata)
}

export default wellKnown
