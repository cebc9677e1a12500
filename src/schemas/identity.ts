import { Type, type Static } from '@sinclair/typebox'

/** A user's identity at a social login provider, as GET /users/me/identities lists it. */
export const IdentityPublic = Type.Object({
  id: Type.String(),
  provider: Type.String({ description: 'the provider\'s id in OIDC_PROVIDERS_FILE' }),
  subject: Type.String({ description: 'the provider\'s stable id of the user (OIDC `sub`)' }),
  email: Type.Union([Type.String(), Type.Null()], { description: 'the address the provider gave at the last sign-in (informational)' }),
  email_verified: Type.Boolean({ description: 'whether the provider said it verified that address' }),
  created_at: Type.String({ format: 'date-time' })
}, { title: 'IdentityPublic' })
export type IdentityPublic = Static<typeof IdentityPublic>
