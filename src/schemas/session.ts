import { Type, type Static } from '@sinclair/typebox'
import { Nullable, Timestamp } from './common.js'

export const SessionPublic = Type.Object({
  id: Type.String(),
  created_at: Timestamp,
  last_used_at: Timestamp,
  user_agent: Nullable(Type.String()),
  current: Type.Boolean({ description: 'the session of the token making this request' })
}, { $id: 'SessionPublic', title: 'SessionPublic' })
export type SessionPublic = Static<typeof SessionPublic>

/** ?limit=&offset= of GET /users/me/sessions: newest first; a user has at most maxSessionsPerUser live ones. */
export const SessionPage = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, default: 0 }))
})
export type SessionPage = Static<typeof SessionPage>
