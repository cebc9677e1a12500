import { Type, type Static } from '@sinclair/typebox'

/** An Ed25519 public key as served in the JWK set (RFC 8037). */
export const PublicJwk = Type.Object({
  kid: Type.String(),
  kty: Type.Literal('OKP'),
  crv: Type.Literal('Ed25519'),
  x: Type.String(),
  alg: Type.Literal('EdDSA'),
  use: Type.Literal('sig')
})
export type PublicJwk = Static<typeof PublicJwk>

export const JwkSet = Type.Object({ keys: Type.Array(PublicJwk) })
