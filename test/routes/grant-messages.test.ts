import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { INVALID_GRANT_MESSAGES, InvalidGrantError } from '../../src/errors.js'
import { build, form, FORM, passwordGrant, postToken, registerUser, storeOf, uniqueName, PASSWORD } from '../helper.js'

/*
 * The error_description of invalid_grant names the grant the client sent, and is one text for
 * every cause within it (no enumeration): a wrong password's answer says nothing of refresh tokens.
 */

describe('invalid_grant error_description', () => {
  it('is "Incorrect username or password" for every password-grant failure: unknown user, wrong password, disabled, unverified', async (t) => {
    const app = await build(t, { REQUIRE_VERIFIED_EMAIL: 'true' })
    const { user } = await registerUser(app)
    const { user: disabled } = await registerUser(app)
    await storeOf(app).users.update(disabled.id, { disabled: true })
    const { user: unverified } = await registerUser(app, { email: `${uniqueName('unverified')}@example.com` })
    assert.equal(unverified.email_verified, false)

    const answers = {
      unknown: await passwordGrant(app, uniqueName('ghost')),
      'wrong password': await passwordGrant(app, user.username, `${PASSWORD}!`),
      disabled: await passwordGrant(app, disabled.username),
      unverified: await passwordGrant(app, unverified.username)
    }
    for (const [cause, res] of Object.entries(answers)) {
      assert.equal(res.statusCode, 400, cause)
      assert.deepEqual(res.json(), { error: 'invalid_grant', error_description: 'Incorrect username or password' }, cause)
    }
  })

  it('has no word of refresh tokens in the password grant, and none of passwords in the refresh grant', () => {
    assert.equal(new InvalidGrantError().message, INVALID_GRANT_MESSAGES.password)
    assert.equal(new InvalidGrantError('password').message, 'Incorrect username or password')
    assert.equal(new InvalidGrantError('refresh_token').message, 'Invalid refresh token')
    assert.doesNotMatch(INVALID_GRANT_MESSAGES.password, /refresh/i)
    assert.doesNotMatch(INVALID_GRANT_MESSAGES.refresh_token, /password|username/i)
  })

  // src/services/sessions.ts (refreshGrant) has to pass 'refresh_token' to its throws first.
  it('is "Invalid refresh token" for every refresh-grant failure: unknown token, another client, ended session', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const login = await passwordGrant(app, user.username, PASSWORD, { client_id: 'app-one' })
    const refreshToken = login.json().refresh_token as string
    const refresh = (token: string, extra: Record<string, string> = {}) => postToken(app, { grant_type: 'refresh_token', refresh_token: token, ...extra })

    const unknown = await refresh('a'.repeat(43))
    const anotherClient = await refresh(refreshToken, { client_id: 'app-two' })
    const revoked = await app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form({ token: refreshToken }) })
    assert.equal(revoked.statusCode, 200)
    const ended = await refresh(refreshToken, { client_id: 'app-one' })
    for (const [cause, res] of Object.entries({ unknown, 'another client': anotherClient, 'ended session': ended })) {
      assert.equal(res.statusCode, 400, cause)
      assert.deepEqual(res.json(), { error: 'invalid_grant', error_description: 'Invalid refresh token' }, cause)
    }
  })
})
