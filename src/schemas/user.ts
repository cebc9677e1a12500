import { Type, type Static } from '@sinclair/typebox'
import { Id, Nullable, Text, Timestamp } from './common.js'

// Usernames may not contain '@', so the login field can tell a username from an e-mail.
const Username = Type.String({ minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', examples: ['johndoe'] })
export const Email = Type.String({ format: 'email', maxLength: 254, examples: ['johndoe@example.com'] })
// An example, or Swagger UI would show a random string matching Text's pattern.
const FullName = Text({ minLength: 1, maxLength: 200, examples: ['John Doe'] })
/** 8 to 1024 characters (code points), any composition; see the password policy for the rest. */
export const Password = Type.String({ minLength: 8, maxLength: 1024, examples: ['correct horse battery staple'] })

export const UserCreate = Type.Object({
  username: Username,
  password: Password,
  email: Type.Optional(Email),
  full_name: Type.Optional(FullName)
}, { additionalProperties: false })
export type UserCreate = Static<typeof UserCreate>

export const UserPublic = Type.Object({
  id: Id,
  username: Type.String(),
  email: Nullable(Type.String()),
  email_verified: Type.Boolean({ description: 'The e-mail address was proven by a link sent to it (POST /verify); false again when it changes' }),
  full_name: Nullable(Type.String()),
  disabled: Type.Boolean(),
  is_admin: Type.Boolean(),
  scopes: Type.Array(Type.String(), { description: 'The scopes this user may be granted' }),
  created_at: Timestamp,
  mfa_enabled: Type.Boolean({ description: 'Two-factor authentication (TOTP) is on: the password grant asks for a code' }),
  // Only with the plugin's `userMetadata` option, whose schema then replaces this one in /openapi.json.
  metadata: Type.Optional(Type.Unknown({ description: 'The app\'s own fields (the auth plugin\'s `userMetadata` schema)' }))
}, { $id: 'UserPublic', title: 'UserPublic' })
export type UserPublic = Static<typeof UserPublic>

// `examples`: what Swagger UI's "Try it out" pre-fills. An empty patch, which changes nothing: a
// filled-in example would rename whoever tries it (and Swagger would fill every field).
export const UserUpdateMe = Type.Object({
  email: Type.Optional(Nullable(Email)),
  full_name: Type.Optional(Nullable(FullName)),
  current_password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Required when `email` changes: a stolen access token alone cannot move the account\'s recovery address' }))
}, { additionalProperties: false, examples: [{}] })
export type UserUpdateMe = Static<typeof UserUpdateMe>

export const UserUpdateAdmin = Type.Object({
  email: Type.Optional(Nullable(Email)),
  full_name: Type.Optional(Nullable(FullName)),
  disabled: Type.Optional(Type.Boolean()),
  is_admin: Type.Optional(Type.Boolean()),
  email_verified: Type.Optional(Type.Boolean({ description: 'Mark the address verified (or not) without a verification e-mail' }))
}, { additionalProperties: false, minProperties: 1, examples: [{ disabled: false }] })
export type UserUpdateAdmin = Static<typeof UserUpdateAdmin>

export const PasswordChange = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: 1024 }),
  new_password: Password
}, { additionalProperties: false })

export const UserList = Type.Object({
  items: Type.Array(Type.Ref(UserPublic)),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer()
})

/** A user as the store returns it: the public fields and the password hash. */
export const UserRecord = Type.Composite([
  Type.Omit(UserPublic, ['scopes', 'metadata', 'mfa_enabled']),
  // mfa_enabled optional: stores written before issue 21 do not return it (read as false).
  Type.Object({ password_hash: Type.Union([Type.String(), Type.Null()], { description: 'null: no password (a user created by social login)' }), metadata: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])), mfa_enabled: Type.Optional(Type.Boolean()) })
])
export type UserRecord = Static<typeof UserRecord>

/** `request.user` on an authenticated request: the user, plus what the token granted. */
export const AuthUser = Type.Composite([
  UserPublic,
  Type.Object({
    token_scopes: Type.Array(Type.String()),
    session_id: Type.String(),
    client_id: Type.String()
  })
])
export type AuthUser = Static<typeof AuthUser>
