import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import textSafety from '../plugins/text-safety.js'
import validation from '../plugins/validation.js'
import { PolicyError } from '../src/errors.js'
import { errorHandler } from '../src/http/error-handler.js'
import { AuditEventPublic, AuditListQuery, AuditPage, SecurityEventsQuery } from '../src/schemas/audit.js'
import { HttpError } from '../src/schemas/common.js'
import type { AuditCursor, StoredEvent } from '../src/stores/auth-store.js'
import { currentUser } from '../plugins/auth/current-user.js'

/** The opaque cursor of a page: the last event's time and id, base64url. */
export const encodeCursor = (event: StoredEvent): string => Buffer.from(JSON.stringify([Date.parse(event.at), event.id])).toString('base64url')

/** @throws PolicyError (400) for a cursor this server did not hand out */
export function decodeCursor (cursor: string): AuditCursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string' && value[1].length <= 64) return { at: value[0], id: value[1] }
  } catch {}
  throw new PolicyError('cursor: not a cursor this server handed out', 'cursor')
}

/**
 * A `date-time` filter in epoch ms. The format lets through what Date.parse cannot read (a leap
 * second, 23:59:60): NaN would reach the query. @throws PolicyError (400) for such a time
 */
function timeOf (name: string, value: string): number {
  const at = Date.parse(value)
  if (!Number.isFinite(at)) throw new PolicyError(`${name}: not a time this server can read`, name)
  return at
}

/**
 * The audit log, read (issue 22): `GET /admin/audit` (scope `admin`) with filters and cursor
 * paging, newest first, and `GET /users/me/security-events` (scope `me`), the caller's own recent
 * logins, failures, password, MFA and session events. Nothing here writes or deletes an event.
 */
const auditRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.setErrorHandler(errorHandler) // mounted apps: domain errors as 4xx, whatever the app's handler
  await fastify.register(textSafety)
  await fastify.register(validation)
  const audit = fastify.authCore.audit
  fastify.addSchema(AuditEventPublic)
  fastify.addSchema(AuditPage)

  fastify.get('/admin/audit', {
    config: { scopes: ['admin'] },
    schema: {
      tags: ['users'],
      operationId: 'listAuditEvents',
      summary: 'The audit log: every login, failure and change, newest first',
      description: 'Filters combine; `next_cursor` pages to older events. Failed logins of names that belong to no account are one row per client address and minute, with `count`; so are the attempts refused on a locked account, per account.',
      querystring: AuditListQuery,
      response: { 200: Type.Ref(AuditPage), 400: Type.Ref(HttpError) }
    }
  }, async (request) => {
    const { type, user_id: userId, since, until, cursor } = request.query
    const limit = request.query.limit ?? 50
    const items = await audit.list({
      type,
      userId,
      since: since === undefined ? undefined : timeOf('since', since),
      until: until === undefined ? undefined : timeOf('until', until),
      before: cursor === undefined ? undefined : decodeCursor(cursor),
      limit: limit + 1
    })
    const page = items.slice(0, limit)
    return { items: page, next_cursor: items.length > limit ? encodeCursor(page[page.length - 1]!) : null }
  })

  fastify.get('/users/me/security-events', {
    config: { scopes: ['me'] },
    schema: {
      tags: ['users'],
      operationId: 'listSecurityEventsMe',
      summary: 'Your recent security events: logins, failures, password, MFA and session events',
      querystring: SecurityEventsQuery,
      response: { 200: Type.Array(Type.Ref(AuditEventPublic), { description: 'Your last events, newest first' }) }
    }
  }, async (request) => audit.securityEvents(currentUser(request).id, request.query.limit ?? 20))
}

export default auditRoutes
