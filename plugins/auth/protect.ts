import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import { HttpError } from '../../src/schemas/common.js'
import type { ScopeRegistry } from '../../src/services/scopes.js'

/** The OpenAPI security schemes every protected operation names (defined by plugins/swagger.ts). */
export const SECURITY_SCHEMES = { password: 'OAuth2PasswordBearer', bearer: 'bearerAuth' } as const

const unauthorized = Type.Ref(HttpError, { description: 'Missing, invalid or expired token (see WWW-Authenticate)' })
const forbidden = Type.Ref(HttpError, { description: 'The token lacks a required scope (see WWW-Authenticate)' })

/**
 * One way to protect a route: `config: { scopes: [...] }` (an empty list: any valid token). As
 * @fastify/rate-limit derives its behaviour from `config.rateLimit`, this onRoute hook derives
 * the rest from `config.scopes`: it adds an authenticate hook bound to those scopes to the
 * route's onRequest hooks (unless the route lists `authenticate` already), and the OpenAPI `security` requirement and 401/403 responses to
 * its schema. A scope the registry does not know fails at registration.
 */
export function protectRoutes (
  fastify: FastifyInstance,
  authenticate: (request: FastifyRequest) => Promise<void>,
  authenticateFor: (required: readonly string[]) => (request: FastifyRequest) => Promise<void>,
  scopes: ScopeRegistry
) {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const required = route.config?.scopes
    if (required === undefined) return
    const unknown = required.filter(s => scopes.definitions[s] === undefined)
    if (unknown.length > 0) throw new Error(`${route.method.toString()} ${route.url}: unknown scope ${unknown.join(', ')} (declare it in the auth plugin's \`scopes\` option)`)

    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    if (!hooks.includes(authenticate as onRequestHookHandler)) route.onRequest = [authenticateFor(required) as onRequestHookHandler, ...hooks]

    if (route.schema !== undefined) {
      const schema = route.schema as { security?: unknown, response?: Record<string, unknown> }
      schema.security ??= [{ [SECURITY_SCHEMES.password]: required }, { [SECURITY_SCHEMES.bearer]: [] }]
      schema.response = { 401: unauthorized, ...(required.length > 0 ? { 403: forbidden } : {}), ...schema.response }
    }
  })
}
