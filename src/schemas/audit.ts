import { Type, type Static } from '@sinclair/typebox'
import { Nullable, Timestamp } from './common.js'

/** One stored event (CONTRACT.md "Events, hooks and the audit log"); `count` > 1 only for aggregated failures. */
export const AuditEventPublic = Type.Object({
  id: Type.String(),
  type: Type.String({ description: 'user.created, login.failed, session.ended, …' }),
  at: Timestamp,
  user_id: Nullable(Type.String({ description: 'whose account the event is about' })),
  actor_id: Nullable(Type.String({ description: 'who acted, when not the user themself (an admin)' })),
  session_id: Nullable(Type.String()),
  client_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'never a password, token, code or secret' }),
  count: Type.Integer({ minimum: 1, description: 'failed logins of unknown names: how many this row stands for (one row per client address and minute)' })
}, { $id: 'AuditEvent', title: 'AuditEvent' })
export type AuditEventPublic = Static<typeof AuditEventPublic>

/** GET /admin/audit's filters and page; times as ISO 8601. */
export const AuditListQuery = Type.Object({
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z_.]+$', description: 'one event type' })),
  user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'events at or after this time' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'events before this time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'next_cursor of the previous page' }))
})
export type AuditListQuery = Static<typeof AuditListQuery>

export const AuditPage = Type.Object({
  items: Type.Array(Type.Ref(AuditEventPublic)),
  next_cursor: Nullable(Type.String({ description: 'pass as `cursor` for the next (older) page; null on the last' }))
}, { $id: 'AuditPage', title: 'AuditPage' })
export type AuditPage = Static<typeof AuditPage>

export const SecurityEventsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 }))
})
