import { Type, type Static } from '@sinclair/typebox'
import { Email, Password } from './user.js'

/** A token from an e-mail link (256 bits, base64url); any other string is simply not a live token. */
const EmailToken = Type.String({ minLength: 1, maxLength: 512, description: 'The token of the e-mail link', examples: ['Xw2mE1vV0q6xF2oG3qkzR7w5m7O8x1n9P4k2a6b8c0d'] })

export const EmailRequest = Type.Object({ email: Email }, { additionalProperties: false })
export type EmailRequest = Static<typeof EmailRequest>

export const ResetPasswordRequest = Type.Object({ token: EmailToken, password: Password }, { additionalProperties: false })
export type ResetPasswordRequest = Static<typeof ResetPasswordRequest>

export const VerifyRequest = Type.Object({ token: EmailToken }, { additionalProperties: false })
export type VerifyRequest = Static<typeof VerifyRequest>

/** The query of the pages the links open; other parameters (a mail client's tracking) are ignored. */
export const TokenQuery = Type.Object({ token: EmailToken })

/** 202 of /forgot-password and /request-verify-token: the same empty object for every address. */
export const Accepted = Type.Object({}, {
  additionalProperties: false,
  description: 'Accepted. The same answer for every address: an e-mail is sent only when it belongs to an account'
})

/** An HTML page, as a response in OpenAPI (Fastify sends the string as it is). */
export const HtmlPage = (description: string) => Type.Unsafe<string>({ description, content: { 'text/html': { schema: { type: 'string' } } } })
