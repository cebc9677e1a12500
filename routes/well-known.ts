import fp from 'fastify-plugin'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { JwkSet } from '../src/schemas/jwk.js'

export interface WellKnownRoutesOptions {
  /**
   * Ignored for the documents' own location (RFC 8414 §3 fixes it from the issuer); when given
   * (as the README once advised: the prefix of authRoutes), the documents are also served under it.
   */
  prefix?: string
}

/** RFC 8414 §3.1: `/.well-known/oauth-authorization-server` followed by the issuer's path, if it has one. */
export function metadataPath (issuer: string): string {
  const path = URL.canParse(issuer) && /^https?:/.test(issuer) ? new URL(issuer).pathname.replace(/\/+$/, '') : ''
  return `/.well-known/oauth-authorization-server${path}`
}

/**
 * The public signing keys (RFC 7517) and the authorization server metadata (RFC 8414), at the
 * locations those RFCs give for the issuer, whatever prefix the auth routes are mounted under:
 * a fastify-plugin, so a `prefix` option does not move them. The metadata names the endpoints
 * where authRoutes really serves them (`/auth/token`), read at request time, so the order of
 * registration does not matter.
 */
const wellKnown: FastifyPluginAsyncTypebox<WellKnownRoutesOptions> = async (fastify, options) => {
  const { issuer, jwksMaxAgeSeconds } = fastify.authIssuer
  // Endpoints are URLs on the issuer's origin (an issuer with a path names the origin's routes).
  const origin = /^https?:\/\//.test(issuer) && URL.canParse(issuer) ? new URL(issuer).origin : issuer.replace(/\/$/, '')
  const jwksPath = `${fastify.prefix}/.well-known/jwks.json`

  const metadata = () => {
    const base = origin + fastify.authEndpoints.prefix
    return {
      issuer,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      revocation_endpoint: `${base}/token/revoke`,
      jwks_uri: origin + jwksPath,
      grant_types_supported: fastify.authGrants.types(),
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      // RFC 9207: the authorization response carries `iss`.
      authorization_response_iss_parameter_supported: true,
      scopes_supported: fastify.authScopes.names,
      // Public clients send none; registered confidential clients use HTTP Basic or the form.
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      service_documentation: `${origin}/docs`
    }
  }

  /** Both documents at `prefix` (the RFC locations at ''), documented only there. */
  async function serve (scope: typeof fastify, prefix: string, hide: boolean) {
    scope.get(`${prefix}/.well-known/jwks.json`, {
      schema: {
        hide,
        tags: ['meta'],
        operationId: hide ? undefined : 'jwks',
        summary: 'Public keys that verify access tokens (empty in HS256 mode)',
        response: { 200: JwkSet }
      }
    }, async (_request, reply) => {
      // Short: a rotated key is published this long before it signs (src/tokens/keys.ts).
      reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
      return fastify.authKeys.jwks()
    })

    const path = prefix === '' ? metadataPath(issuer) : `${prefix}/.well-known/oauth-authorization-server`
    scope.get(path, {
      schema: {
        hide,
        tags: ['meta'],
        operationId: hide ? undefined : 'authorizationServerMetadata',
        summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'The metadata' }) }
      }
    }, async () => metadata())
  }

  await serve(fastify, '', false)
  const legacy = (options.prefix ?? '').replace(/\/+$/, '')
  if (legacy !== '' && legacy !== fastify.prefix) await serve(fastify, legacy, true)
}

export default fp(wellKnown, { fastify: '5.x', name: 'well-known-routes', dependencies: ['auth'] })
