import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createApp } from '../../src/app.js'
import { isolatedDatabaseUrl, testConfig } from '../helper.js'

/*
 * W4 (docs/threat-model.md): a flood of failed logins for names that belong to no account grows
 * the audit table by one row per client address and minute, not one per failure. Measured through
 * the login pipeline itself (throttle, dummy hash, event), from 4 addresses.
 */
const FAILURES = 10_000
const ADDRESSES = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '2001:db8::4']
const PARALLEL = 16

describe('a flood of failed logins for unknown names', () => {
  it(`writes one row per client address and minute: ${FAILURES} failures`, { timeout: 300_000 }, async (t) => {
    const config = testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), TOKEN_RATE_LIMIT: '0', WEBHOOK_URL: 'http://127.0.0.1:9/never', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}` })
    // The cheapest argon2 the settings allow: the dummy hash of each unknown name is still checked.
    const app = await createApp({ ...config, auth: { ...config.auth, argon2: { memoryCost: 7168, timeCost: 1, parallelism: 1 }, passwordHashQueueLimit: 10_000 } })
    t.after(() => app.close())

    const started = Date.now()
    let next = 0
    const refused: unknown[] = []
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < FAILURES) {
        const i = next++
        await app.authLogin.passwordLogin({ username: `nobody-${i}`, password: `guess-${i}`, ip: ADDRESSES[i % ADDRESSES.length], userAgent: 'flood' })
          .then(() => assert.fail('an unknown name logged in'), (error: Error) => { if (error.name !== 'InvalidGrantError') refused.push(error) })
      }
    }))
    const ended = Date.now()
    assert.deepEqual(refused, [], 'every failure an invalid_grant')

    const rows = await app.db.selectFrom('audit_events').selectAll().where('type', '=', 'login.failed').execute()
    const counted = rows.reduce((sum, row) => sum + Number(row.count), 0)
    const minutes = Math.floor(ended / 60_000) - Math.floor(started / 60_000) + 1
    assert.equal(counted, FAILURES, 'every failure counted')
    assert.ok(rows.length <= ADDRESSES.length * minutes, `${rows.length} rows for ${ADDRESSES.length} addresses over ${minutes} minute(s)`)
    assert.ok(rows.every(row => row.user_id === null && row.aggregate_key !== null && JSON.parse(row.data).reason === 'invalid_credentials'))
    assert.deepEqual(new Set(rows.map(row => row.ip)), new Set(ADDRESSES))
    // The webhook outbox does not grow with the flood either: the first of each address and minute.
    const deliveries = await app.db.selectFrom('webhook_deliveries').select('id').execute()
    assert.equal(deliveries.length, rows.length)
    t.diagnostic(`${FAILURES} failed logins for unknown names from ${ADDRESSES.length} addresses in ${((ended - started) / 1000).toFixed(1)} s: ${rows.length} audit rows (${minutes} minute window(s)), ${deliveries.length} webhook deliveries`)
  })
})
