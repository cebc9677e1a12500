import { Type, type Static } from '@sinclair/typebox'

/*
 * Two-factor authentication (issue 21): the bodies of /users/me/mfa and below. `examples` are what
 * Swagger UI's "Try it out" pre-fills: an empty code, so nothing is sent by accident.
 */

export const MfaStatus = Type.Object({
  totp: Type.Union([Type.Literal('off'), Type.Literal('pending'), Type.Literal('on')], { description: '`pending`: enrolment started, not confirmed by a code yet' }),
  recovery_codes_left: Type.Integer({ minimum: 0, description: 'unused recovery codes' })
}, { title: 'MfaStatus' })
export type MfaStatus = Static<typeof MfaStatus>

export const TotpEnrolmentRequest = Type.Object({
  password: Type.String({ minLength: 1, maxLength: 1024, description: 'your password: enrolment needs re-authentication (wrong ones count toward the login lock)' })
}, { additionalProperties: false, examples: [{ password: '' }] })

export const TotpEnrolment = Type.Object({
  secret: Type.String({ description: 'base32 TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s), shown this once' }),
  otpauth_uri: Type.String({ description: 'otpauth://totp/<issuer>:<username>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30: the QR code content for an authenticator app' })
}, { title: 'TotpEnrolment' })

export const MfaCode = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64, description: 'a current 6-digit TOTP code, or (where the route says so) one of your recovery codes' })
}, { additionalProperties: false, examples: [{ code: '' }] })
export type MfaCode = Static<typeof MfaCode>

export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { minItems: 10, maxItems: 10, description: '10 single-use codes, shown this once: store them safely' })
}, { title: 'RecoveryCodes' })
