import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import * as OTPAuth from 'otpauth'
import auth from '../../plugins/auth/index.js'
import authRoutes from '../../routes/auth/index.js'
import type { MfaStore } from '../../src/stores/auth-store.js'
import { createMemoryStore } from '../../src/stores/sql-store.js'
import type { AuthEvent } from '../../src/core/events.js'
import { hashToken } from '../../src/identifiers.js'
import { parseAmr } from '../../src/services/login.js'
import {
  adminLogin, assertNoStore, bearer, build, eventually, getMe, login, PASSWORD, passwordGrant, postToken, refresh,
  registerAndLogin, registerUser, storeOf
} from '../helper.js'
import {
  amrOf, assertMfaInvalid, challenge, codeAt, enrol, MFA_MESSAGE, MFA_OTP, MFA_RECOVERY, mfaRequest, mfaUser, otpGrant,
  recoveryGrant
} from './mfa-helpers.js'

/*
 * Two-factor authentication (issue 21; CONTRACT.md "Two-factor authentication"; threat model T1–T10):
 * enrolment, the password grant's 403 mfa_required and the two Auth0 grants, replay and races,
 * the mfa_token's bounds, the lock, the recovery path, the admin reset and the events.
 */

/** Every event of the app, as listeners receive them. */
function recordEvents (app: Awaited<ReturnType<typeof build>>) {
  const events: AuthEvent[] = []
  app.authEvents.on('*', event => { events.push(event) })
  return events
}

describe('TOTP enrolment', () => {
  it('needs the password, shows the secret and the contract\'s otpauth URI once, and turns on with a first code', async (t) => {
    const app = await build(t)
    const events = recordEvents(app)
    const { user, tokens } = await registerAndLogin(app)
    const access = tokens.access_token
    const other = await login(app, user.username) // a second session, which enrolment ends

    assert.deepEqual((await mfaRequest(app, 'GET', '/users/me/mfa', access)).json(), { totp: 'off', recovery_codes_left: 0 })
    assert.equal((await getMe(app, access)).json().mfa_enabled, false)

    const wrong = await mfaRequest(app, 'POST', '/users/me/mfa/totp', access, { password: 'not the password' })
    assert.equal(wrong.statusCode, 400)
    const missing = await mfaRequest(app, 'POST', '/users/me/mfa/totp', access, {})
    assert.equal(missing.statusCode, 400)

    const start = await mfaRequest(app, 'POST', '/users/me/mfa/totp', access, { password: PASSWORD })
    assert.equal(start.statusCode, 200, start.body)
    assert.equal(start.headers['cache-control'], 'no-store')
    const { secret, otpauth_uri: uri } = start.json()
    assert.match(secret, /^[A-Z2-7]{32}$/, 'base32, 160 bits')
    assert.equal(uri, `otpauth://totp/127.0.0.1:${user.username}?secret=${secret}&issuer=127.0.0.1&algorithm=SHA1&digits=6&period=30`)
    assert.deepEqual((await mfaRequest(app, 'GET', '/users/me/mfa', access)).json(), { totp: 'pending', recovery_codes_left: 0 })

    const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP
    assert.equal(totp.secret.base32, secret)
    const badCode = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', access, { code: codeAt(totp) === '000000' ? '111111' : '000000' })
    assert.equal(badCode.statusCode, 400)
    const confirm = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', access, { code: codeAt(totp, -1) })
    assert.equal(confirm.statusCode, 200, confirm.body)
    assert.equal(confirm.headers['cache-control'], 'no-store')
    const codes = confirm.json().recovery_codes as string[]
    assert.equal(codes.length, 10)
    assert.equal(new Set(codes).size, 10)
    for (const code of codes) assert.match(code, /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/, '64 random bits each')

    assert.deepEqual((await mfaRequest(app, 'GET', '/users/me/mfa', access)).json(), { totp: 'on', recovery_codes_left: 10 })
    assert.equal((await getMe(app, access)).json().mfa_enabled, true)
    assert.equal((await getMe(app, other.access_token)).statusCode, 401, 'turning TOTP on ends every other session')

    const again = await mfaRequest(app, 'POST', '/users/me/mfa/totp', access, { password: PASSWORD })
    assert.equal(again.statusCode, 409, 'TOTP on: turn it off first')

    const enabled = await eventually(async () => events.filter(e => e.type === 'mfa.enabled'), list => list.length === 1)
    assert.equal(enabled[0]?.user_id, user.id)
    assert.ok(!JSON.stringify(events).includes(secret), 'no event carries the secret')
    assert.ok(!codes.some(code => JSON.stringify(events).includes(code)), 'no event carries a recovery code')
  })

  it('stores the secret encrypted with DATA_ENCRYPTION_KEY and the recovery codes as hashes only (T10)', async (t) => {
    const app = await build(t, { DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
    const { user, secret, recoveryCodes } = await mfaUser(app)
    const row = await app.db.selectFrom('user_totp').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow()
    assert.equal(row.state, 'on')
    assert.match(row.secret, /^v1:/)
    assert.ok(!row.secret.includes(secret))
    assert.ok(!Buffer.from(row.secret.split(':')[3] ?? '', 'base64url').toString('latin1').includes(secret))
    const stored = await app.db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', user.id).execute()
    assert.equal(stored.length, 10)
    const text = JSON.stringify(stored)
    for (const code of recoveryCodes) {
      assert.ok(!text.includes(code) && !text.includes(code.replaceAll('-', '')))
    }
  })

  it('refuses enrolment in production without DATA_ENCRYPTION_KEY (503)', async (t) => {
    const app = await build(t, { NODE_ENV: 'production' })
    const { tokens } = await registerAndLogin(app)
    const res = await mfaRequest(app, 'POST', '/users/me/mfa/totp', tokens.access_token, { password: PASSWORD })
    assert.equal(res.statusCode, 503)
    assert.match(res.json().message, /DATA_ENCRYPTION_KEY/)
  })

  it('a new enrolment replaces a pending one: only the newest secret confirms', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const first = await mfaRequest(app, 'POST', '/users/me/mfa/totp', tokens.access_token, { password: PASSWORD })
    const second = await mfaRequest(app, 'POST', '/users/me/mfa/totp', tokens.access_token, { password: PASSWORD })
    assert.equal(second.statusCode, 200)
    const old = OTPAuth.URI.parse(first.json().otpauth_uri) as OTPAuth.TOTP
    const current = OTPAuth.URI.parse(second.json().otpauth_uri) as OTPAuth.TOTP
    assert.notEqual(old.secret.base32, current.secret.base32)
    const stale = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', tokens.access_token, { code: codeAt(old, 0) })
    assert.equal(stale.statusCode, codeAt(old, 0) === codeAt(current, 0) ? 200 : 400)
    if (stale.statusCode === 400) {
      assert.equal((await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', tokens.access_token, { code: codeAt(current, 0) })).statusCode, 200)
    }
  })
})

describe('the password grant of a user with TOTP (T1)', () => {
  it('answers 403 mfa_required with an opaque mfa_token; the mfa-otp grant finishes with amr ["pwd","otp"], kept by refresh', async (t) => {
    const app = await build(t)
    const events = recordEvents(app)
    const { user, totp } = await mfaUser(app)

    const res = await passwordGrant(app, user.username)
    assert.equal(res.statusCode, 403, res.body)
    assertNoStore(res)
    const body = res.json()
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description', 'mfa_token'])
    assert.equal(body.error, 'mfa_required')
    assert.match(body.error_description, /otp/)
    assert.match(body.mfa_token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, not a JWT')

    const done = await otpGrant(app, body.mfa_token, codeAt(totp, 0))
    assert.equal(done.statusCode, 200, done.body)
    assertNoStore(done)
    const tokens = done.json()
    assert.deepEqual(amrOf(tokens.access_token), ['pwd', 'otp'])
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
    const refreshed = await refresh(app, tokens.refresh_token)
    assert.equal(refreshed.statusCode, 200)
    assert.deepEqual(amrOf(refreshed.json().access_token), ['pwd', 'otp'], 'a refresh keeps the session\'s amr')

    const challenged = await eventually(async () => events.filter(e => e.type === 'mfa.challenged'), list => list.length === 1)
    assert.equal(challenged[0]?.user_id, user.id)
    assert.ok(!JSON.stringify(events).includes(body.mfa_token), 'no event carries the mfa_token')
  })

  it('gives the tokens at once for a valid otp in the form, and invalid_grant for a wrong one', async (t) => {
    const app = await build(t)
    const { user, totp } = await mfaUser(app)
    const wrong = await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 0) === '123456' ? '654321' : '123456' })
    assertMfaInvalid(wrong)
    const ok = await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 0) })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.deepEqual(amrOf(ok.json().access_token), ['pwd', 'otp'])
    const badPassword = await passwordGrant(app, user.username, 'wrong password', { otp: codeAt(totp, 1) })
    assert.equal(badPassword.json().error_description, 'Incorrect username or password', 'the password is checked first')
  })

  it('gives users without TOTP their tokens as before, with amr ["pwd"]', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.deepEqual(amrOf(tokens.access_token), ['pwd'])
    assert.deepEqual(amrOf((await refresh(app, tokens.refresh_token)).json().access_token), ['pwd'])
  })
})

describe('replay (T3, T4)', () => {
  it('never accepts a code twice, nor an older one; the enrolment code is spent too', async (t) => {
    const app = await build(t)
    const { user, totp } = await mfaUser(app)
    // The enrolment code (step −1) at login: refused.
    assertMfaInvalid(await otpGrant(app, await challenge(app, user.username), codeAt(totp, -1)))
    const code = codeAt(totp, 0)
    assert.equal((await otpGrant(app, await challenge(app, user.username), code)).statusCode, 200)
    assertMfaInvalid(await otpGrant(app, await challenge(app, user.username), code))
    assertMfaInvalid(await passwordGrant(app, user.username, PASSWORD, { otp: code }))
    // The next step still works: a used step blocks itself and older ones only.
    assert.equal((await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 1) })).statusCode, 200)
  })

  it('of 20 parallel password logins with one code, exactly one gets tokens', async (t) => {
    const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '0', TOKEN_RATE_LIMIT: '0' })
    const { user, totp } = await mfaUser(app)
    const code = codeAt(totp, 0)
    const answers = await Promise.all(Array.from({ length: 20 }, () => passwordGrant(app, user.username, PASSWORD, { otp: code })))
    const statuses = answers.map(res => res.statusCode)
    assert.equal(statuses.filter(s => s === 200).length, 1, String(statuses))
    assert.equal(statuses.filter(s => s === 400).length, 19, String(statuses))
  })

  it('of 20 parallel mfa-otp grants with one code (20 mfa_tokens, and one token 20 times), exactly one succeeds', async (t) => {
    const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '0', TOKEN_RATE_LIMIT: '0' })
    const { user, totp } = await mfaUser(app)
    const mfaTokens = []
    for (let i = 0; i < 20; i++) mfaTokens.push(await challenge(app, user.username))
    const code = codeAt(totp, 0)
    const answers = await Promise.all(mfaTokens.map(token => otpGrant(app, token, code)))
    assert.equal(answers.filter(res => res.statusCode === 200).length, 1, String(answers.map(res => res.statusCode)))

    const one = await challenge(app, user.username)
    const next = codeAt(totp, 1)
    const same = await Promise.all(Array.from({ length: 20 }, () => otpGrant(app, one, next)))
    assert.equal(same.filter(res => res.statusCode === 200).length, 1, String(same.map(res => res.statusCode)))
  })
})

describe('the mfa_token (T5, T6)', () => {
  it('is single use', async (t) => {
    const app = await build(t)
    const { user, totp } = await mfaUser(app)
    const token = await challenge(app, user.username)
    assert.equal((await otpGrant(app, token, codeAt(totp, 0))).statusCode, 200)
    assertMfaInvalid(await otpGrant(app, token, codeAt(totp, 1)))
  })

  it('is bound to the client_id and scope of the password step', async (t) => {
    const app = await build(t)
    const { user, totp } = await mfaUser(app)
    const token = await challenge(app, user.username, { client_id: 'app-one', scope: 'me' })
    assertMfaInvalid(await otpGrant(app, token, codeAt(totp, 0), { client_id: 'app-two' }))
    assertMfaInvalid(await otpGrant(app, token, codeAt(totp, 0)))
    assertMfaInvalid(await otpGrant(app, token, codeAt(totp, 0), { client_id: 'app-one', scope: 'me items' }))
    const ok = await otpGrant(app, token, codeAt(totp, 0), { client_id: 'app-one' })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.equal(ok.json().scope, 'me')
  })

  it('dies after 5 wrong codes, and after 5 minutes; unknown tokens get the same answer', async (t) => {
    const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '0' })
    const { user, totp } = await mfaUser(app)
    const right = codeAt(totp, 0)
    const wrong = right === '000000' ? '000001' : '000000'
    const token = await challenge(app, user.username)
    for (let i = 0; i < 5; i++) assertMfaInvalid(await otpGrant(app, token, wrong))
    assertMfaInvalid(await otpGrant(app, token, right))

    const expired = await challenge(app, user.username)
    await app.db.updateTable('mfa_challenges').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', hashToken(expired)).execute()
    assertMfaInvalid(await otpGrant(app, expired, right))

    assertMfaInvalid(await otpGrant(app, 'not-a-token', right))
    assertMfaInvalid(await otpGrant(app, 'x'.repeat(256), right))
    const missing = await postToken(app, { grant_type: MFA_OTP, otp: right })
    assert.equal(missing.json().error, 'invalid_request')
    // The right code is still unused: a live token takes it.
    assert.equal((await otpGrant(app, await challenge(app, user.username), right)).statusCode, 200)
  })

  it('wrong codes count toward the account\'s lock, and a correct password does not clear them', async (t) => {
    const app = await build(t, { LOGIN_USERNAME_RATE_LIMIT: '4' })
    const events = recordEvents(app)
    const { user, totp } = await mfaUser(app)
    const wrong = codeAt(totp, 0) === '000000' ? '000001' : '000000'
    assertMfaInvalid(await otpGrant(app, await challenge(app, user.username), wrong))
    assertMfaInvalid(await otpGrant(app, await challenge(app, user.username), wrong))
    assertMfaInvalid(await passwordGrant(app, user.username, PASSWORD, { otp: wrong }))
    assertMfaInvalid(await otpGrant(app, await challenge(app, user.username), wrong))
    const locked = await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 0) })
    assert.equal(locked.statusCode, 429, locked.body)
    assert.ok(Number(locked.headers['retry-after']) > 0)
    const failed = await eventually(async () => events.filter(e => e.type === 'mfa.failed'), list => list.length >= 4)
    assert.ok(failed.every(e => e.user_id === user.id))
  })
})

describe('a stolen access token (T2)', () => {
  it('cannot turn MFA off, make new recovery codes, re-enrol, or read the secret or the codes', async (t) => {
    const app = await build(t)
    const { user, tokens, totp, secret, recoveryCodes } = await mfaUser(app)
    const access = tokens.access_token
    for (const [method, url, payload] of [
      ['DELETE', '/users/me/mfa/totp', {}], ['DELETE', '/users/me/mfa/totp', { code: '12345' }],
      ['POST', '/users/me/mfa/recovery-codes', {}], ['POST', '/users/me/mfa/recovery-codes', { code: 'ffff-ffff-ffff-ffff' }],
      ['POST', '/users/me/mfa/totp', { password: 'a guess at the password' }]
    ] as const) {
      const res = await mfaRequest(app, method, url, access, payload)
      assert.equal(res.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`)
    }
    assert.equal((await mfaRequest(app, 'POST', '/users/me/mfa/totp', access, { password: PASSWORD })).statusCode, 409)
    const status = await mfaRequest(app, 'GET', '/users/me/mfa', access)
    assert.deepEqual(status.json(), { totp: 'on', recovery_codes_left: 10 })
    const me = await getMe(app, access)
    for (const text of [status.body, me.body]) {
      assert.ok(!text.includes(secret))
      assert.ok(!recoveryCodes.some(code => text.includes(code)))
    }
    // Still on: the password alone is not enough.
    assert.equal((await passwordGrant(app, user.username)).statusCode, 403)
    assert.equal((await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 0) })).statusCode, 200)
  })

  it('a token without scope me cannot reach the MFA routes', async (t) => {
    const app = await build(t)
    const { user, totp } = await mfaUser(app)
    const narrow = await passwordGrant(app, user.username, PASSWORD, { otp: codeAt(totp, 0), scope: 'items' })
    const res = await mfaRequest(app, 'GET', '/users/me/mfa', narrow.json().access_token)
    assert.equal(res.statusCode, 403)
  })
})

describe('recovery codes and turning TOTP off (T7, T8)', () => {
  it('a recovery code finishes a login once; new codes replace the old ones', async (t) => {
    const app = await build(t)
    const { user, tokens, totp, recoveryCodes } = await mfaUser(app)
    const [first, second] = recoveryCodes as [string, string]
    const ok = await recoveryGrant(app, await challenge(app, user.username), first.toUpperCase().replaceAll('-', ''))
    assert.equal(ok.statusCode, 200, ok.body)
    assert.deepEqual(amrOf(ok.json().access_token), ['pwd', 'otp'])
    assertMfaInvalid(await recoveryGrant(app, await challenge(app, user.username), first))
    assert.equal((await mfaRequest(app, 'GET', '/users/me/mfa', ok.json().access_token)).json().recovery_codes_left, 9)

    const renewed = await mfaRequest(app, 'POST', '/users/me/mfa/recovery-codes', ok.json().access_token, { code: codeAt(totp, 0) })
    assert.equal(renewed.statusCode, 200, renewed.body)
    const fresh = renewed.json().recovery_codes as string[]
    assert.equal(fresh.length, 10)
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 401, 'new codes end every other session')
    assertMfaInvalid(await recoveryGrant(app, await challenge(app, user.username), second))
    assert.equal((await recoveryGrant(app, await challenge(app, user.username), fresh[0]!)).statusCode, 200)
  })

  it('turns TOTP off with a recovery code: the password alone logs in again, other sessions end, mfa.disabled', async (t) => {
    const app = await build(t)
    const events = recordEvents(app)
    const { user, tokens, recoveryCodes } = await mfaUser(app)
    const other = await recoveryGrant(app, await challenge(app, user.username), recoveryCodes[1]!)
    assert.equal(other.statusCode, 200)
    const res = await mfaRequest(app, 'DELETE', '/users/me/mfa/totp', tokens.access_token, { code: recoveryCodes[0]! })
    assert.equal(res.statusCode, 204, res.body)
    assert.deepEqual((await mfaRequest(app, 'GET', '/users/me/mfa', tokens.access_token)).json(), { totp: 'off', recovery_codes_left: 0 })
    assert.equal((await getMe(app, tokens.access_token)).json().mfa_enabled, false)
    assert.equal((await getMe(app, other.json().access_token)).statusCode, 401)
    const plain = await passwordGrant(app, user.username)
    assert.equal(plain.statusCode, 200)
    assert.deepEqual(amrOf(plain.json().access_token), ['pwd'])
    const disabled = await eventually(async () => events.filter(e => e.type === 'mfa.disabled'), list => list.length === 1)
    assert.equal(disabled[0]?.data.by, 'user')
  })

  it('turns TOTP off with a TOTP code, which is then spent', async (t) => {
    const app = await build(t)
    const { tokens, totp } = await mfaUser(app)
    const res = await mfaRequest(app, 'DELETE', '/users/me/mfa/totp', tokens.access_token, { code: codeAt(totp, 0) })
    assert.equal(res.statusCode, 204, res.body)
    assert.equal((await mfaRequest(app, 'DELETE', '/users/me/mfa/totp', tokens.access_token, { code: codeAt(totp, 1) })).statusCode, 409)
  })

  it('a password reset leaves TOTP on: the next login still asks for the code (T8)', async (t) => {
    const app = await build(t)
    const { user: registered } = await registerUser(app, { email: `${randomBytes(4).toString('hex')}@example.com` })
    const tokens = await login(app, registered.username)
    await enrol(app, tokens.access_token)
    const token = randomBytes(32).toString('base64url')
    await app.db.insertInto('email_tokens').values({
      token_hash: hashToken(token), user_id: registered.id, purpose: 'reset', email: registered.email!, created_at: Date.now(), expires_at: Date.now() + 60_000, used_at: null
    }).execute()
    const reset = await app.inject({ method: 'POST', url: '/reset-password', payload: { token, password: 'a brand new passphrase' } })
    assert.equal(reset.statusCode, 204, reset.body)
    const res = await passwordGrant(app, registered.username, 'a brand new passphrase')
    assert.equal(res.statusCode, 403)
    assert.equal(res.json().error, 'mfa_required')
  })
})

describe('the admin reset (T9)', () => {
  it('DELETE /users/{id}/mfa needs scope admin; it turns TOTP off, ends every session, and emits mfa.disabled with the actor', async (t) => {
    const app = await build(t)
    const events = recordEvents(app)
    const { user, tokens } = await mfaUser(app)
    const self = await app.inject({ method: 'DELETE', url: `/users/${user.id}/mfa`, headers: bearer(tokens.access_token) })
    assert.equal(self.statusCode, 403, 'not without scope admin')
    assert.equal((await passwordGrant(app, user.username)).statusCode, 403, 'still on')

    const admin = await adminLogin(app)
    const unknown = await app.inject({ method: 'DELETE', url: '/users/00000000-0000-4000-8000-000000000000/mfa', headers: bearer(admin.tokens.access_token) })
    assert.equal(unknown.statusCode, 404)
    const res = await app.inject({ method: 'DELETE', url: `/users/${user.id}/mfa`, headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 204, res.body)
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 401, 'the user\'s sessions end')
    assert.equal((await passwordGrant(app, user.username)).statusCode, 200)
    const adminUser = await app.authAccounts.getByLogin(admin.username)
    const disabled = await eventually(async () => events.filter(e => e.type === 'mfa.disabled'), list => list.length === 1)
    assert.equal(disabled[0]?.actor_id, adminUser.id)
    assert.equal(disabled[0]?.user_id, user.id)
  })
})

describe('discovery and documents', () => {
  it('lists both Auth0 grant types in the metadata, and documents otp, mfa_token, recovery_code and the 403 body', async (t) => {
    const app = await build(t)
    const metadata = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
    for (const type of [MFA_OTP, MFA_RECOVERY]) assert.ok(metadata.grant_types_supported.includes(type), type)
    const doc = (await app.inject({ url: '/openapi.json' })).json()
    const token = doc.paths['/token'].post
    const form = token.requestBody.content['application/x-www-form-urlencoded'].schema.properties
    for (const name of ['otp', 'mfa_token', 'recovery_code']) assert.ok(form[name] !== undefined, name)
    assert.equal(form.otp.examples?.[0] ?? form.otp.example ?? '', '', 'Try it out leaves otp out unless typed')
    const forbidden = JSON.stringify(token.responses['403'])
    assert.match(forbidden, /mfa_token/)
    assert.match(forbidden, /mfa_required/)
    for (const path of ['/users/me/mfa', '/users/me/mfa/totp', '/users/me/mfa/totp/confirm', '/users/me/mfa/recovery-codes', '/users/{id}/mfa']) {
      assert.ok(doc.paths[path] !== undefined, path)
    }
    assert.ok(doc.paths['/users/me/mfa/totp'].delete.requestBody !== undefined, 'DELETE documents its {code} body')
  })

  it('answers 400, never 500, for malformed MFA input', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    for (const payload of [{ code: '' }, { code: 'x'.repeat(65) }, { code: 123456 }, { code: '123456', extra: 1 }, []]) {
      const res = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', tokens.access_token, payload)
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`)
    }
    const nothing = await mfaRequest(app, 'POST', '/users/me/mfa/totp/confirm', tokens.access_token, { code: '123456' })
    assert.equal(nothing.statusCode, 409, 'nothing to confirm')
    const res = await postToken(app, { grant_type: MFA_RECOVERY, mfa_token: 'a', recovery_code: 'x'.repeat(65) })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error, 'invalid_request')
    assert.equal(MFA_MESSAGE.length > 0, true)
  })
})

describe('a custom store without the mfa part', () => {
  it('keeps working: logins as before (amr ["pwd"]), the MFA routes answer 404, and a half mfa part is refused at register', async (t) => {
    const { store, close } = await createMemoryStore()
    t.after(close)
    const { mfa: _none, ...withoutMfa } = store
    const app = Fastify()
    t.after(() => app.close())
    await app.register(auth, { store: withoutMfa, jwt: { secret: randomBytes(32).toString('hex') } })
    await app.register(authRoutes)
    const { user } = await registerUser(app)
    const tokens = await login(app, user.username)
    assert.deepEqual(amrOf(tokens.access_token), ['pwd'])
    assert.equal((await getMe(app, tokens.access_token)).json().mfa_enabled, false)
    assert.equal((await mfaRequest(app, 'GET', '/users/me/mfa', tokens.access_token)).statusCode, 404)
    assert.equal((await mfaRequest(app, 'POST', '/users/me/mfa/totp', tokens.access_token, { password: PASSWORD })).statusCode, 404)
    assertMfaInvalid(await postToken(app, { grant_type: MFA_OTP, mfa_token: 'x', otp: '123456' }))

    const half = Fastify()
    t.after(() => half.close())
    await assert.rejects(async () => { await half.register(auth, { store: { ...store, mfa: { getTotp: store.mfa!.getTotp } as unknown as MfaStore }, jwt: { secret: randomBytes(32).toString('hex') } }) }, /mfa\.advanceStep/)
  })
})

describe('the second factor among the login checks', () => {
  it('runs last (an unverified e-mail is refused before any challenge), and finishing runs the other checks again', async (t) => {
    const app = await build(t, { REQUIRE_VERIFIED_EMAIL: 'true' })
    const { user: registered } = await registerUser(app, { email: `${randomBytes(4).toString('hex')}@example.com` })
    const store = storeOf(app)
    await store.users.update(registered.id, { email_verified: true })
    const tokens = await login(app, registered.username)
    const { totp } = await enrol(app, tokens.access_token)

    const pending = await challenge(app, registered.username)
    await store.users.update(registered.id, { email_verified: false })
    assertMfaInvalid(await otpGrant(app, pending, codeAt(totp, 0)))
    const refused = await passwordGrant(app, registered.username)
    assert.equal(refused.statusCode, 400, 'the e-mail check answers before the second factor')
    assert.equal(refused.json().error, 'invalid_grant')

    await store.users.update(registered.id, { email_verified: true })
    const meanwhile = await challenge(app, registered.username)
    await store.users.update(registered.id, { disabled: true })
    assertMfaInvalid(await otpGrant(app, meanwhile, codeAt(totp, 1)))
  })

  it('reads sessions stored before amr existed as ["pwd"]', () => {
    assert.deepEqual(parseAmr(null), ['pwd'])
    assert.deepEqual(parseAmr(undefined), ['pwd'])
    assert.deepEqual(parseAmr('not json'), ['pwd'])
    assert.deepEqual(parseAmr('[1]'), ['pwd'])
    assert.deepEqual(parseAmr('["pwd","otp"]'), ['pwd', 'otp'])
  })
})
