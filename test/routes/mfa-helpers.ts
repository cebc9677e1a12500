import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import * as OTPAuth from 'otpauth'
import type { TokenResponse } from '../../src/schemas/token.js'
import { bearer, PASSWORD, postToken, registerAndLogin } from '../helper.js'

/*
 * Two-factor helpers for the tests: enrolment as a client does it (the otpauth URI parsed back by
 * the TOTP library, codes generated from it as an authenticator app would), and the token calls.
 */

export const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'
export const MFA_RECOVERY = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'
export const MFA_MESSAGE = 'Invalid, used or expired code or mfa_token'

/**
 * The code of the time step `offset` steps from now (−1, 0, +1 are within the server's window).
 * A code once accepted is never accepted again, nor any older one: a test uses increasing offsets.
 */
export const codeAt = (totp: OTPAuth.TOTP, offset = 0) => totp.generate({ timestamp: Date.now() + offset * 30_000 })

/** The `amr` claim of an access token. */
export const amrOf = (accessToken: string) => decodeJwt(accessToken).amr

export const mfaRequest = (app: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, accessToken: string, payload?: object) =>
  app.inject({ method, url, headers: bearer(accessToken), ...(payload === undefined ? {} : { payload }) })

/** POST /users/me/mfa/totp then confirm with the code of step −1: the parsed TOTP and the recovery codes. */
export async function enrol (app: FastifyInstance, accessToken: string) {
  const start = await mfaRequest(app, 'POST', '/users/me/mfa/totp', accessToken, { password: PASSWORD })
  assert.equal(start.statusCode, 200, start.body)
  const { secret, otpauth_uri: uri } = start.json<{ secret: string, otpauth_uri: string }>()
  const totp = OTPAuth.URI.parse(uri)
  assert.ok(totp instanceof OTPAuth.TOTP)
  const confirm = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', accessToken, { code: codeAt(totp, -1) })
  assert.equal(confirm.statusCode, 200, confirm.body)
  const recoveryCodes = confirm.json<{ recovery_codes: string[] }>().recovery_codes
  return { secret, uri, totp, recoveryCodes }
}

/** A registered user with TOTP on (enrolled through the routes): the user, the enrolling session's tokens, the TOTP. */
export async function mfaUser (app: FastifyInstance) {
  const { user, tokens } = await registerAndLogin(app)
  const enrolled = await enrol(app, tokens.access_token)
  return { user, tokens, ...enrolled }
}

/** The password step, which must answer 403 mfa_required: the mfa_token. */
export async function challenge (app: FastifyInstance, username: string, extra: Record<string, string> = {}) {
  const res = await postToken(app, { grant_type: 'password', username, password: PASSWORD, ...extra })
  assert.equal(res.statusCode, 403, res.body)
  return res.json<{ error: string, error_description: string, mfa_token: string }>().mfa_token
}

export const otpGrant = (app: FastifyInstance, mfaToken: string, otp: string, extra: Record<string, string> = {}) =>
  postToken(app, { grant_type: MFA_OTP, mfa_token: mfaToken, otp, ...extra })

export const recoveryGrant = (app: FastifyInstance, mfaToken: string, code: string, extra: Record<string, string> = {}) =>
  postToken(app, { grant_type: MFA_RECOVERY, mfa_token: mfaToken, recovery_code: code, ...extra })

/** Asserts the one invalid_grant answer of the two-factor steps. */
export function assertMfaInvalid (res: { statusCode: number, body: string, json: <T>() => T }) {
  assert.equal(res.statusCode, 400, res.body)
  assert.deepEqual(res.json(), { error: 'invalid_grant', error_description: MFA_MESSAGE })
}

export type { TokenResponse }
