import { Type, type Static } from '@sinclair/typebox'
import { Id, Nullable, Text, Timestamp } from './common.js'

export const ItemCreate = Type.Object({
  title: Text({ minLength: 1, maxLength: 200, examples: ['Buy milk'] }),
  description: Type.Optional(Text({ maxLength: 2000, examples: ['Two litres'] }))
}, { additionalProperties: false })
export type ItemCreate = Static<typeof ItemCreate>

export const ItemPublic = Type.Object({
  id: Id,
  title: Type.String(),
  description: Nullable(Type.String()),
  owner_id: Id,
  created_at: Timestamp
}, { $id: 'ItemPublic', title: 'ItemPublic' })
export type ItemPublic = Static<typeof ItemPublic>
