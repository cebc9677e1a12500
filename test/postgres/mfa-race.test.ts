import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as OTPAuth from 'otpauth'
import { bearer, isolatedDatabaseUrl, PASSWORD, uniqueName } from '../helper.js'
import { postForm, postJson, registerAndLogin } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

/*
 * Replay safety of TOTP (issue 21, threat model T4) across instances: two server processes on one
 * PostgreSQL database, one code sent to both at once, many times over. The compare-and-set on the
 * stored time step (UPDATE … WHERE last_step < :step) lets exactly one request win.
 */
const POSTGRES = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true
const ISSUER = 'http://mfa-race.test'
const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'

describe('TOTP codes raced across two instances on PostgreSQL', { skip: POSTGRES ? false : 'needs TEST_DATABASE_URL=postgres://… (scripts/with-postgres.sh)' }, () => {
  it('accepts one code exactly once when 2 × 10 requests race with it (password+otp, and mfa-otp grants)', async (t) => {
    const databaseUrl = await isolatedDatabaseUrl()
    const env = { DATABASE_URL: databaseUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: ISSUER, TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '0' }
    const a = (await startServerProcess(t, env)).base
    const b = (await startServerProcess(t, env)).base
    const username = uniqueName('race')
    const { tokens } = await registerAndLogin(a, username)
    const start = await postJson(a, '/users/me/mfa/totp', { password: PASSWORD }, bearer(tokens.access_token))
    assert.equal(start.status, 200, start.text)
    const totp = OTPAuth.URI.parse(start.body.otpauth_uri as string) as OTPAuth.TOTP
    const confirm = await postJson(b, '/users/me/mfa/totp/confirm', { code: totp.generate({ timestamp: Date.now() - 30_000 }) }, bearer(tokens.access_token))
    assert.equal(confirm.status, 200, confirm.text)

    const code = totp.generate()
    const logins = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      postForm(i % 2 === 0 ? a : b, '/token', { grant_type: 'password', username, password: PASSWORD, otp: code })))
    const statuses = logins.map(res => res.status)
    assert.equal(statuses.filter(s => s === 200).length, 1, String(statuses))
    assert.equal(statuses.filter(s => s === 400).length, 19, String(statuses))

    const mfaTokens: string[] = []
    for (let i = 0; i < 20; i++) {
      const res = await postForm(i % 2 === 0 ? a : b, '/token', { grant_type: 'password', username, password: PASSWORD })
      assert.equal(res.status, 403, res.text)
      mfaTokens.push(res.body.mfa_token as string)
    }
    const next = totp.generate({ timestamp: Date.now() + 30_000 })
    const finishes = await Promise.all(mfaTokens.map((mfaToken, i) => postForm(i % 2 === 0 ? b : a, '/token', { grant_type: MFA_OTP, mfa_token: mfaToken, otp: next })))
    const finished = finishes.map(res => res.status)
    assert.equal(finished.filter(s => s === 200).length, 1, String(finished))
    t.diagnostic(`password+otp: ${statuses.filter(s => s === 200).length}/20 succeeded; mfa-otp: ${finished.filter(s => s === 200).length}/20 succeeded`)
  })
})
