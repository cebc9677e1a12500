import fp from 'fastify-plugin'
import createError from '@fastify/error'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { stringProblem, textProblem } from '../src/text.js'

const UnsafeTextError = createError('APP_UNSAFE_TEXT', '%s', 400)
/** Set on the scope that checks already, so a nested registration adds no second hook. */
const CHECKING = Symbol.for('fastify-oauth2-jwt.text-safety')

/** The request's first text that cannot be stored (src/text.ts), as Fastify names the parts of a request. */
function requestTextProblem (request: FastifyRequest): { context: string, path: string, problem: string } | undefined {
  const parts: Array<[string, unknown]> = [['body', request.body], ['querystring', request.query], ['params', request.params]]
  for (const [context, value] of parts) {
    const found = textProblem(value)
    if (found !== undefined) return { context, ...found }
  }
  // The one header stored (sessions.user_agent). Over HTTP/1.1 Node reads header bytes as
  // latin-1 and refuses NUL, so only an in-process request (inject) can carry either.
  const userAgent = request.headers['user-agent']
  const problem = userAgent === undefined ? undefined : stringProblem(userAgent)
  return problem === undefined ? undefined : { context: 'headers', path: '/user-agent', problem }
}

/**
 * Text with NUL or invalid Unicode (a lone UTF-16 surrogate) in any field of the body, the
 * query string, the path parameters or the User-Agent is a 400 before validation, on every
 * database (CONTRACT.md: "Text with NUL or invalid Unicode in any field is a 400"). PostgreSQL
 * would answer NUL with an error (a 500) and store a lone surrogate as U+FFFD; checked here once,
 * no store needs to know. The error is a validation error: each scope renders it as it renders
 * invalid input (Fastify's `{statusCode, error, message}`, RFC 6749 `invalid_request` at the
 * token endpoints, the error page for a form posted by the recovery pages).
 *
 * The app registers it at its root; the route plugins (authRoutes, the admin routes) register it
 * too, for apps that mount them without it. Registered where an enclosing scope checks already,
 * it adds nothing.
 */
const textSafety: FastifyPluginAsync = async (fastify) => {
  if (fastify.hasDecorator(CHECKING)) return
  fastify.decorate(CHECKING, true)
  // Callback style: an async hook costs a promise and a microtask on every request.
  fastify.addHook('preValidation', (request, _reply, done) => {
    // No route: nothing reads the request, and its answer stays 404.
    const found = request.is404 ? undefined : requestTextProblem(request)
    if (found === undefined) { done(); return }
    const message = `${found.context}${found.path} ${found.problem}`
    done(Object.assign(new UnsafeTextError(message), {
      validation: [{ keyword: 'text', instancePath: found.path, schemaPath: '#', params: {}, message: found.problem }],
      validationContext: found.context
    }))
  })
}

export default fp(textSafety, { fastify: '5.x', name: 'text-safety' })
