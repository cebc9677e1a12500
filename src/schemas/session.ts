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
