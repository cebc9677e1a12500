import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { hashToken } from '../../src/identifiers.js'
import { bearer, build, FORM, form, passwordGrant, refresh } from '../helper.js'
import { newSecret } from '../webhooks/receiver.js'

/*
 * W3 (docs/threat-model.md): no stored event and no queued webhook holds a password, token, code
 * or secret. Every flow that emits an event is walked with values the test makes up, then every
 * row of audit_events and webhook_deliveries is searched for each of them.
 */

/** The link token of the newest message to `email` in the outbox (read before the worker sends and erases it). */
async function linkToken (app: FastifyInstance, email: string, path: 'verify' | 'reset-password') {
  const rows = await app.db.selectFrom('mail_outbox').select(['text', 'created_at']).where('recipient', '=', email).orderBy('created_at', 'desc').execute()
  for (const row of rows) {
    const match = new RegExp(`/${path}\\?token=([A-Za-z0-9_-]{43})`).exec(row.text)
    if (match !== null) return match[1]!
  }
  throw new Error(`no ${path} link to ${email}`)
}

describe('secrets in events', () => {
  it('no stored event or delivery holds a password, token or code the test sent', async (t) => {
    const webhookSecret = newSecret()
    // Webhooks on (to a receiver that is never called: the worker does not run), so deliveries are searched too.
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', REFRESH_REUSE_INTERVAL_SECONDS: '0', EMAIL_COOLDOWN_SECONDS: '0', WEBHOOK_URL: 'http://127.0.0.1:9/never', WEBHOOK_SECRET: webhookSecret })
    const secrets: Record<string, string> = { webhookSecret }
    const json = (method: 'POST' | 'PUT' | 'PATCH', url: string, payload: object, token?: string) =>
      app.inject({ method, url, payload: payload as Record<string, unknown>, headers: token === undefined ? {} : bearer(token) })

    secrets.password1 = 'first secret passphrase 1'
    const email = 'secrets@example.com'
    assert.equal((await json('POST', '/register', { username: 'secretive', password: secrets.password1, email })).statusCode, 201)
    secrets.verifyToken = await linkToken(app, email, 'verify')
    assert.equal((await json('POST', '/verify', { token: secrets.verifyToken })).statusCode, 200)

    const first = (await passwordGrant(app, 'secretive', secrets.password1)).json()
    secrets.access1 = first.access_token
    secrets.refresh1 = first.refresh_token
    const second = (await refresh(app, first.refresh_token)).json()
    secrets.access2 = second.access_token
    secrets.refresh2 = second.refresh_token
    assert.equal((await refresh(app, first.refresh_token)).statusCode, 400) // reuse ends the session

    // A password typed into the username field, and a wrong password for the account.
    secrets.typedAsName = 'my-password-in-the-name-field'
    assert.equal((await passwordGrant(app, secrets.typedAsName, 'whatever it is')).statusCode, 400)
    secrets.wrongPassword = 'a wrong secret passphrase'
    assert.equal((await passwordGrant(app, 'secretive', secrets.wrongPassword)).statusCode, 400)

    const third = (await passwordGrant(app, 'secretive', secrets.password1)).json()
    secrets.access3 = third.access_token
    secrets.refresh3 = third.refresh_token
    secrets.password2 = 'second secret passphrase 2'
    assert.equal((await json('PUT', '/users/me/password', { current_password: secrets.password1, new_password: secrets.password2 }, third.access_token)).statusCode, 204)
    assert.equal((await json('PATCH', '/users/me', { email: 'moved@example.com', current_password: secrets.password2 }, third.access_token)).statusCode, 200)

    assert.equal((await json('POST', '/forgot-password', { email: 'moved@example.com' })).statusCode, 202)
    await app.authRecovery.resolveRequests(10)
    secrets.resetToken = await linkToken(app, 'moved@example.com', 'reset-password')
    secrets.password3 = 'third secret passphrase 3'
    assert.equal((await json('POST', '/reset-password', { token: secrets.resetToken, password: secrets.password3 })).statusCode, 204)

    const fourth = (await passwordGrant(app, 'secretive', secrets.password3)).json()
    secrets.access4 = fourth.access_token
    secrets.refresh4 = fourth.refresh_token
    assert.equal((await app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form({ token: fourth.refresh_token }) })).statusCode, 200)
    await app.authCore.events.settled()

    const events = await app.db.selectFrom('audit_events').selectAll().execute()
    const deliveries = await app.db.selectFrom('webhook_deliveries').selectAll().execute()
    // The walk reached every flow: otherwise an empty table would pass.
    const types = new Set(events.map(row => row.type))
    for (const type of ['user.created', 'email.verification_sent', 'email.verified', 'login.succeeded', 'token.refreshed', 'refresh.reused', 'login.failed', 'password.changed', 'user.updated', 'password.reset', 'session.ended']) {
      assert.ok(types.has(type), `${type} stored (stored: ${[...types].join(', ')})`)
    }
    assert.equal(deliveries.length, events.length)
    // The unauthenticated link flows record where they came from too.
    for (const type of ['password.reset', 'email.verified']) assert.equal(events.find(row => row.type === type)?.ip, '127.0.0.1', type)
    const haystack = JSON.stringify([events, deliveries])
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!haystack.includes(value), `${name} found in a stored event or delivery`)
      // Nor their SHA-256, as refresh and e-mail tokens are kept elsewhere.
      assert.ok(!haystack.includes(hashToken(value)), `${name}'s hash found in a stored event or delivery`)
    }
    // The key of the webhook secret, in the forms it could leak.
    const key = webhookSecret.slice('whsec_'.length)
    assert.ok(!haystack.includes(key) && !haystack.includes(Buffer.from(key, 'base64').toString('hex')))
    // Password hashes never either.
    const hash = (await app.db.selectFrom('users').select('password_hash').executeTakeFirstOrThrow()).password_hash
    assert.ok(!haystack.includes(hash.split('$').pop()!))
    t.diagnostic(`${events.length} events and ${deliveries.length} deliveries searched for ${Object.keys(secrets).length} secrets`)
  })
})
