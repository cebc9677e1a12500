import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { aggregateKeyOf } from '../../src/core/audit.js'
import { createAuthEvents } from '../../src/core/events.js'
import { build, FORM, registerUser } from '../helper.js'

/*
 * W4/W11/W12 (docs/threat-model.md): what a flood of refused logins writes. An address of kilobytes
 * (X-Forwarded-For) is cut before it is stored or keyed; the attempts refused because an account
 * is locked are one row per account, client address and minute, with their count.
 */
const WEBHOOKS = { WEBHOOK_URL: 'http://127.0.0.1:9/never', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}` }
const failures = (app: FastifyInstance) => app.db.selectFrom('audit_events').selectAll().where('type', '=', 'login.failed').execute()
const quiet = { error () {} }
const grant = (app: FastifyInstance, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/token', headers: FORM, payload: new URLSearchParams({ grant_type: 'password', username, password }).toString(), remoteAddress: '203.0.113.50' })

describe('aggregated failed logins', () => {
  it('cuts an event\'s address to 64 characters, and keys the unknown-name aggregate by the cut one', async (t) => {
    const events = createAuthEvents(quiet)
    const [event] = await events.record({ type: 'login.failed', ip: `198.51.100.1,${'9'.repeat(8000)}`, data: { reason: 'invalid_credentials' } })
    assert.equal(event!.ip!.length, 64)
    assert.ok(aggregateKeyOf(event!)!.length < 120)

    const app = await build(t, { TOKEN_RATE_LIMIT: '0', ...WEBHOOKS })
    const ip = 'f'.repeat(8000)
    for (let i = 0; i < 2; i++) {
      await assert.rejects(app.authLogin.passwordLogin({ username: `nobody-${i}`, password: 'guess', ip, userAgent: 'flood' }), { name: 'InvalidGrantError' })
    }
    const rows = await failures(app)
    assert.equal(rows.length, 1)
    assert.equal(rows[0]!.ip, 'f'.repeat(64))
    assert.equal(Number(rows[0]!.count), 2)
    assert.ok(rows[0]!.aggregate_key!.length < 120, 'the key holds the cut address')
  })

  it('60 attempts refused on a locked account from one address in a minute: one row counting 60, one webhook', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '3', ...WEBHOOKS })
    const { user } = await registerUser(app)
    // Wait for a minute's start if need be: the 63 attempts below within one minute.
    if (Date.now() % 60_000 > 45_000) await new Promise(resolve => setTimeout(resolve, 60_000 - (Date.now() % 60_000) + 50))
    for (let i = 0; i < 3; i++) assert.equal((await grant(app, user.username, `wrong ${i}`)).statusCode, 400)
    const before = await app.db.selectFrom('webhook_deliveries').select('id').execute()
    for (let i = 0; i < 60; i++) assert.notEqual((await grant(app, user.username, `wrong again ${i}`)).statusCode, 200)
    const locked = (await failures(app)).filter(row => JSON.parse(row.data).reason === 'locked')
    assert.equal(locked.length, 1, 'one row for the account, address and minute')
    assert.equal(Number(locked[0]!.count), 60)
    assert.deepEqual([locked[0]!.user_id, locked[0]!.ip], [user.id, '203.0.113.50'])
    const after = await app.db.selectFrom('webhook_deliveries').select('id').execute()
    assert.equal(after.length - before.length, 1, 'one webhook delivery')
    // Wrong passwords (before the lock) stay one row each.
    assert.equal((await failures(app)).filter(row => JSON.parse(row.data).reason === 'invalid_credentials').length, 3)
  })
})
