import { Type, type Static } from '@sinclair/typebox'

/*
 * The token endpoint's form (RFC 6749 §4.3, §6), as FastAPI's OAuth2PasswordRequestForm reads it.
 * Unknown parameters are ignored (RFC 6749 §3.2), so no additionalProperties: false here.
 * A parameter sent twice arrives as an array and fails these string types (RFC 6749 §3.2).
 */
/** `examples[0]` is what Swagger UI's "Try it out" pre-fills (else `string`); `''` leaves the field out. */
export const Param = (maxLength: number, description: string, examples?: [string]) => Type.Optional(Type.String({ maxLength, description, ...(examples && { examples }) }))

export const TokenRequest = Type.Object({
  grant_type: Param(64, '`password` (the default, as in FastAPI) or `refresh_token`', ['password']),
  username: Param(254, 'username or e-mail (password grant)', ['johndoe']),
  password: Param(1024, 'password (password grant)', ['correct horse battery staple']),
  // No length bound of its own: any value that is not a live refresh token is invalid_grant (the body limit bounds it).
  refresh_token: Type.Optional(Type.String({ description: 'refresh token (refresh_token grant)', examples: [''] })),
  scope: Param(256, 'space-separated scopes; default: all the user may have', ['me items']),
  client_id: Param(200, 'optional: public clients need none', ['']),
  client_secret: Param(200, 'optional', [''])
})
export type TokenRequest = Static<typeof TokenRequest>

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'seconds' }),
  refresh_token: Type.Optional(Type.String({ description: 'absent when the request had X-Token-Transport: cookie: the refresh token is then in an HttpOnly cookie' })),
  scope: Type.String()
}, { $id: 'TokenResponse', title: 'TokenResponse' })
/** The token response as the grants make it (the refresh token always there); the endpoint may move it to a cookie. */
export type TokenResponse = Static<typeof TokenResponse> & { refresh_token: string }

export const OAuthErrorCode = Type.Union(
  ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope']
    .map(code => Type.Literal(code))
)

/** The password grant's answer for an account with a second factor (Auth0's shape): 403. */
export const MfaRequiredResponse = Type.Object({
  error: Type.Literal('mfa_required'),
  error_description: Type.String(),
  mfa_token: Type.String({ description: 'opaque; finishes the login with grant_type=http://auth0.com/oauth/grant-type/mfa-otp (or mfa-recovery-code); single use, 5 minutes, at most 5 wrong codes, bound to client_id and scope' })
}, { $id: 'MfaRequiredResponse', title: 'MfaRequiredResponse' })
export type MfaRequiredResponse = Static<typeof MfaRequiredResponse>

/** RFC 6749 §5.2 error body of /token and /token/revoke. */
export const OAuthErrorResponse = Type.Object({
  error: OAuthErrorCode,
  error_description: Type.String()
}, { $id: 'OAuthErrorResponse', title: 'OAuthErrorResponse' })
export type OAuthErrorResponse = Static<typeof OAuthErrorResponse>

export const RevokeRequest = Type.Object({
  token: Type.Optional(Type.String({ description: 'the access or refresh token to revoke' })),
  token_type_hint: Param(64, 'optional: `access_token` or `refresh_token`', ['']),
  client_id: Param(200, 'optional', ['']),
  client_secret: Param(200, 'optional', [''])
})

/** The claims of an access token (RFC 9068 §2.2). */
export const AccessTokenClaims = Type.Object({
  iss: Type.String(),
  aud: Type.String(),
  sub: Type.String(),
  exp: Type.Integer(),
  iat: Type.Integer(),
  jti: Type.String(),
  scope: Type.String(),
  sid: Type.String(),
  client_id: Type.String(),
  /** RFC 8176 authentication methods of the session's login: ["pwd"] or ["pwd","otp"] (issue 21) */
  amr: Type.Optional(Type.Array(Type.String()))
})
export type AccessTokenClaims = Static<typeof AccessTokenClaims>
