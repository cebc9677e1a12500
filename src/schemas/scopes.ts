import { Type, type Static } from '@sinclair/typebox'

/** The scopes this server issues, with the descriptions Swagger UI's Authorize dialog shows. */
export const SCOPES = {
  me: 'Read and update your own account and sessions',
  items: 'Manage your own items',
  admin: 'Manage all users (admins only)'
} as const

export const Scope = Type.Union([Type.Literal('me'), Type.Literal('items'), Type.Literal('admin')])
export type Scope = Static<typeof Scope>
