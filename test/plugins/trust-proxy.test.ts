import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { build, FORM, form } from '../helper.js'

/*
 * TRUST_PROXY=true: the client address is the last X-Forwarded-For entry, the one the trusted
 * proxy appended. Found from outside: Fastify's `trustProxy: true` took the first entry, which the
 * client writes, so every spoofed address had a rate-limit bucket and an audit row of its own.
 */

const unknownLogin = (i: number) => form({ grant_type: 'password', username: `nobody${i}`, password: 'not a password at all' })

describe('TRUST_PROXY=true', () => {
  it('takes the address the proxy appended: addresses the client wrote first share its rate-limit bucket', async (t) => {
    const app = await build(t, { TRUST_PROXY: 'true', TOKEN_RATE_LIMIT: '2' })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ method: 'POST', url: '/token', headers: { ...FORM, 'x-forwarded-for': `198.51.100.${i}, 203.0.113.9` }, payload: unknownLogin(i) })
      statuses.push(res.statusCode)
    }
    assert.deepEqual(statuses, [400, 400, 429, 429])
    // Another address the proxy saw has a bucket of its own.
    const other = await app.inject({ method: 'POST', url: '/token', headers: { ...FORM, 'x-forwarded-for': '198.51.100.1, 203.0.113.10' }, payload: unknownLogin(9) })
    assert.equal(other.statusCode, 400)
  })

  it('stores that address in the audit log, never the spoofed one', async (t) => {
    const app = await build(t, { TRUST_PROXY: 'true', TOKEN_RATE_LIMIT: '0' })
    const spoofed = 'x'.repeat(200)
    const res = await app.inject({ method: 'POST', url: '/token', headers: { ...FORM, 'x-forwarded-for': `${spoofed}, 203.0.113.9` }, payload: unknownLogin(1) })
    assert.equal(res.statusCode, 400)
    const rows = await app.db.selectFrom('audit_events').select(['type', 'ip']).where('type', '=', 'login.failed').execute()
    assert.deepEqual(rows.map(row => row.ip), ['203.0.113.9'])
  })
})
