import fp from 'fastify-plugin'
import createError from '@fastify/error'
import { visit } from 'jsonc-parser'
import type { FastifyPluginAsync } from 'fastify'

const InvalidJsonError = createError('APP_INVALID_JSON', 'Invalid JSON body: %s', 400)
const BodyTooLargeError = createError('FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large', 413)
/** Over-limit bodies up to this size are read (and dropped) before the 413; larger ones get it at once. */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Deeper bodies are refused: no request of this API nests more than a few levels. */
const MAX_DEPTH = 64
class TooDeep extends Error {}

/**
 * Why a JSON text is refused before parsing: a member name that appears twice in one object, or
 * nesting deeper than MAX_DEPTH; undefined if neither (jsonc-parser's visitor, strict JSON).
 */
function structureProblem (text: string): string | undefined {
  const objects: Array<Set<string> | undefined> = []
  let duplicate: string | undefined
  const enter = (names?: Set<string>) => {
    objects.push(names)
    if (objects.length > MAX_DEPTH) throw new TooDeep() // stops the visitor's recursion early
  }
  try {
    visit(text, {
      onObjectBegin: () => enter(new Set()),
      onArrayBegin: () => enter(),
      onObjectEnd: () => { objects.pop() },
      onArrayEnd: () => { objects.pop() },
      onObjectProperty: (name) => {
        const names = objects[objects.length - 1]
        if (names === undefined || duplicate !== undefined) return
        if (names.has(name)) duplicate = name
        names.add(name)
      }
    }, { disallowComments: true, allowTrailingComma: false })
  } catch (error) {
    if (error instanceof TooDeep) return `nested more than ${MAX_DEPTH} levels`
    throw error
  }
  return duplicate === undefined ? undefined : `member ${JSON.stringify(duplicate.slice(0, 64))} appears twice`
}

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
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    const limit = request.routeOptions.bodyLimit ?? fastify.initialConfig.bodyLimit ?? 1024 * 1024
    const length = Number(request.headers['content-length'])
    if (!(length > limit)) return payload
    if (length <= DRAIN_LIMIT_BYTES) for await (const chunk of payload) void chunk
    throw new BodyTooLargeError()
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
    const problem = text.length === 0 ? undefined : structureProblem(text)
    if (problem !== undefined) {
      done(new InvalidJsonError(problem), undefined)
      return
    }
    parse(request, text, done)
  })
}

export default fp(requestBody, { fastify: '5.x', name: 'request-body' })
