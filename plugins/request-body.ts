import { once } from 'node:events'
import fp from 'fastify-plugin'
import createError from '@fastify/error'
import type { FastifyPluginAsync } from 'fastify'
import { jsonStructureProblem } from '../src/json.js'

const InvalidJsonError = createError('APP_INVALID_JSON', 'Invalid JSON body: %s', 400)
const BodyTooLargeError = createError('FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large', 413)
/** Over-limit bodies up to this size are read (and dropped) before the 413; larger ones get it at once. */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * How request bodies are read:
 * - A body over the route's limit (1 MiB) gets a 413 the client can read. Fastify answers it
 *   at once and closes the connection while the client is still sending, and a client such as
 *   Node's fetch then sees EPIPE instead of the answer: so a body whose Content-Length is over the
 *   limit (up to 16 MiB) is read and dropped first, then answered 413 on an open connection.
 * - JSON strictly, before any schema sees it: invalid UTF-8 and a member given twice
 *   (`{"username":"a","username":"b"}`, which JSON.parse would quietly reduce to its last value:
 *   HTTP parameter pollution, ASVS 15.3.7) are 400s; the rest is Fastify's own parser,
 *   secure-json-parse with `__proto__` and `constructor` keys refused (ASVS 15.3.6).
 */
const requestBody: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    // Most requests (every GET) have no body: out before routeOptions, a getter that builds an object.
    const length = Number(request.headers['content-length'])
    if (!(length > 0)) { done(null, payload); return }
    const limit = request.routeOptions.bodyLimit ?? fastify.initialConfig.bodyLimit ?? 1024 * 1024
    if (!(length > limit)) { done(null, payload); return }
    if (length > DRAIN_LIMIT_BYTES) { done(new BodyTooLargeError()); return }
    // Drained, then refused on an open connection (above).
    payload.resume()
    // A client that goes away mid-body is a client error, as Fastify's own body reader answers it
    // (found from outside: passed on without a status, the reset read as a database outage, 503).
    once(payload, 'end').then(() => { done(new BodyTooLargeError()) }, (error: Error) => { done(Object.assign(error, { statusCode: 400 })) })
  })

  const parse = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string
    try {
      text = utf8.decode(body as Buffer)
    } catch {
      done(new InvalidJsonError('not UTF-8'), undefined)
      return
    }
    const problem = text.length === 0 ? undefined : jsonStructureProblem(text)
    if (problem !== undefined) {
      done(new InvalidJsonError(problem), undefined)
      return
    }
    parse(request, text, done)
  })
}

export default fp(requestBody, { fastify: '5.x', name: 'request-body' })
