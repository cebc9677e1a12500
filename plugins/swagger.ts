import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import { SECURITY_SCHEMES } from './auth/protect.js'

const DESCRIPTION = `OAuth2 password flow with JWT access tokens, as in FastAPI's tutorial, done for real.

**Try it:** \`POST /register\` a user, then click **Authorize**, enter the username and password
(leave client_id and client_secret empty) and pick the scopes. Every "Try it out" then sends
\`Authorization: Bearer <access token>\`.

**Tokens.** \`POST /token\` with \`grant_type=password\` answers an access token (a JWT, valid
\`expires_in\` seconds) and a refresh token. To renew, post \`grant_type=refresh_token\` and the
refresh token: you get a new pair, and the old refresh token is spent. Presenting a spent refresh
token again ends the whole session (RFC 9700 reuse detection), so refresh one request at a time.
\`POST /token/revoke\` (RFC 7009) or \`POST /logout\` end a session.`

/**
 * OpenAPI 3 generated from the route schemas (@fastify/swagger), served at /openapi.json,
 * and Swagger UI at /docs (@fastify/swagger-ui). Register after the auth plugin (its scopes and
 * security schemes) and before any route.
 * https://github.com/fastify/fastify-swagger, https://github.com/fastify/fastify-swagger-ui
 */
const swaggerPlugin: FastifyPluginAsync = async (fastify) => {
  const tokenUrl = '/token'
  const scopes = fastify.authScopes.definitions

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Fastify OAuth2 + JWT', version: '0.1.0', description: DESCRIPTION },
      tags: [
        { name: 'auth', description: 'Register, log in, refresh, revoke, log out' },
        { name: 'users', description: 'Your account and sessions; user administration' },
        { name: 'items', description: 'An example resource owned per user (scope `items`)' },
        { name: 'meta', description: 'Health, keys and server metadata' }
      ],
      components: {
        securitySchemes: {
          [SECURITY_SCHEMES.password]: {
            type: 'oauth2',
            description: 'Log in with a username and password (RFC 6749 §4.3); leave client_id empty.',
            flows: { password: { tokenUrl, refreshUrl: tokenUrl, scopes: Object.fromEntries(Object.entries(scopes).map(([name, s]) => [name, s.description])) } }
          },
          [SECURITY_SCHEMES.bearer]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Paste an access token' }
        }
      }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })

  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, docExpansion: 'list', deepLinking: true },
    initOAuth: { scopes: Object.keys(scopes).filter(name => scopes[name]?.adminOnly !== true) }
  })

  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
}

export default fp(swaggerPlugin, { fastify: '5.x', name: 'swagger', dependencies: ['auth'] })
