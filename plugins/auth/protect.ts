import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HookHandlerDoneFunction, onRequestHookHandler, RouteOptions } from 'fastify'
import { BearerChallengeError } from '../../src/http/errors.js'
import { HttpError } from '../../src/schemas/common.js'
import type { ScopeRegistry } from '../../src/services/scopes.js'
import { DEFAULT_RESPONSE_EXTENSION, documentSecurity, SCOPES_EXTENSION } from './openapi.js'

export { SECURITY_SCHEMES } from './openapi.js'

const unauthorized = Type.Ref(HttpError, { description: 'Missing, invalid or expired token (see WWW-Authenticate)' })
const forbidden = Type.Ref(HttpError, { description: 'The token lacks a required scope (see WWW-Authenticate)' })

/**
 * A route's authenticate hook that answers the RFC 6750 refusals itself, with the challenge and
 * the contract's body, instead of throwing them: the 401/403 of a protected route is then the
 * same whatever error handler the app has (its own, or Fastify's default, which would add a
 * `code` on routes without a response schema for the status) and whatever schema the route has.
 * A callback hook that never calls `done` after replying: the chain stops there, even when the
 * reply's onSend hooks are asynchronous. Other errors go to the error handler as before.
 */
function answering (check: (request: FastifyRequest) => void | Promise<void>): onRequestHookHandler {
  return function authenticateRoute (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const refuse = (error: unknown) => {
      if (!(error instanceof BearerChallengeError)) { done(error as Error); return }
      request.log.info({ reason: error.reason }, 'request refused')
      reply.code(error.statusCode).headers(error.headers).send(error.body)
    }
    let pending: void | Promise<void>
    try {
      pending = check(request)
    } catch (error) {
      refuse(error)
      return
    }
    // Synchronous on a cached session (see plugins/auth check): no promise to wait for.
    if (pending === undefined) done()
    else pending.then(() => { done() }, refuse)
  }
}

/**
 * One way to protect a route: `config: { scopes: [...] }` (an empty list: any valid token), or
 * `onRequest: [app.authenticate]` (with the route's `config.scopes`, if any). As
 * @fastify/rate-limit derives its behaviour from `config.rateLimit`, this onRoute hook derives
 * the rest: the route's authenticate hook, bound to its scopes and answering refusals itself
 * (in place of `app.authenticate` where the route lists it, else first), and its documentation,
 * with or without a schema: the 401 (and, when scopes are required, 403) responses, and the
 * mark that openapi.ts turns into the operation's `security` (unless the schema states its own).
 * A route without a schema gets one with only those: nothing to validate, and no response
 * schema for any other status, so the handler's answers are serialised as before. The schema is
 * copied, never changed in place (several routes may share one). A scope the registry does not
 * know fails at registration.
 */
export function protectRoutes (
  fastify: FastifyInstance,
  authenticate: (request: FastifyRequest) => Promise<void>,
  authenticateFor: (required: readonly string[]) => (request: FastifyRequest) => void | Promise<void>,
  scopes: ScopeRegistry
) {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    const listed = hooks.includes(authenticate as onRequestHookHandler)
    const configured = route.config?.scopes
    if (configured === undefined && !listed) return
    const required = configured ?? []
    const unknown = required.filter(s => scopes.definitions[s] === undefined)
    if (unknown.length > 0) throw new Error(`${route.method.toString()} ${route.url}: unknown scope ${unknown.join(', ')} (declare it in the auth plugin's \`scopes\` option)`)

    const hook = answering(authenticateFor(required))
    route.onRequest = listed ? hooks.map(h => h === authenticate ? hook : h) : [hook, ...hooks]

    const schema = (route.schema ?? {}) as FastifySchema & { response?: Record<string, unknown> }
    route.schema = {
      ...schema,
      ...(schema.security === undefined ? { [SCOPES_EXTENSION]: [...required] } : {}),
      ...(schema.response === undefined ? { [DEFAULT_RESPONSE_EXTENSION]: true } : {}),
      response: { 401: unauthorized, ...(required.length > 0 ? { 403: forbidden } : {}), ...schema.response }
    } as FastifySchema
  })

  documentSecurity(fastify, scopes)
}
