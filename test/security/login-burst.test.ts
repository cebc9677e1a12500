import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { assertHttpError, build, PASSWORD, passwordGrant, registerUser } from '../helper.js'

/*
 * Issue 18, finding 7: with a queue of 64, a burst of 200 logins on two cores got 132 × 503 (all
 * with Retry-After: 1), though the machine served all 200 within 3 s. Logins are now refused only
 * when their expected wait exceeds PASSWORD_HASH_MAX_WAIT_SECONDS (5 s by default).
 */

/** "3 × 200, 1 × 503": how often each value occurs. */
const tally = (values: number[]) => [...new Set(values)].sort((a, b) => a - b)
  .map(value => `${values.filter(v => v === value).length} × ${value}`).join(', ')

describe('a burst of logins (issue 18)', () => {
  it('serves 200 concurrent password logins in full with the default settings (a host too busy for that refuses only after serving for most of the bound)', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '1000' })
    // One after another: twenty at once would be shed themselves on a busy host (a 1 s bound, one at a time).
    const users: string[] = []
    for (let i = 0; i < 20; i++) users.push((await registerUser(app)).user.username)
    const started = performance.now()
    const answers = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const res = await passwordGrant(app, users[i % users.length]!, PASSWORD)
      return { status: res.statusCode, ms: performance.now() - started, body: res.body }
    }))
    const elapsed = performance.now() - started
    const served = answers.filter(a => a.status === 200)
    const servedMs = Math.max(0, ...served.map(a => a.ms))
    t.diagnostic(`200 logins: ${tally(answers.map(a => a.status))} in ${elapsed.toFixed(0)} ms; the last login served after ${servedMs.toFixed(0)} ms`)
    assert.deepEqual(answers.filter(a => a.status !== 200 && a.status !== 503).map(a => `${a.status} ${a.body}`), [])
    // Two cores serve 200 logins in about a second, all of them within the 5 s bound (the count cap of
    // 64 refused 132 of them in 0.8 s). Only a host too busy to serve the burst in time may refuse
    // some (other processes on the same cores): then the logins it did serve took most of the bound.
    const refused = answers.length - served.length
    if (refused > 0) t.diagnostic(`the host was too busy: ${refused} refused, the ${served.length} served took ${servedMs.toFixed(0)} ms`)
    assert.ok(refused === 0 || servedMs > 2500, `${refused} refused though the ${served.length} served took only ${servedMs.toFixed(0)} ms`)
  })

  it('answers 503 with a spread Retry-After only past the expected wait, and serves the rest', async (t) => {
    // One computation at a time and a 1-second bound: 600 logins at once cannot all be served in time.
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '1000', PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_MAX_WAIT_SECONDS: '1' })
    // One after another: twenty at once would be shed themselves on a busy host (a 1 s bound, one at a time).
    const users: string[] = []
    for (let i = 0; i < 20; i++) users.push((await registerUser(app)).user.username)
    const started = performance.now()
    const answers = await Promise.all(Array.from({ length: 600 }, (_, i) => passwordGrant(app, users[i % users.length]!, PASSWORD)))
    const elapsed = performance.now() - started
    const served = answers.filter(res => res.statusCode === 200)
    const refused = answers.filter(res => res.statusCode === 503)
    const retryAfter = refused.map(res => Number(res.headers['retry-after']))
    t.diagnostic(`600 logins, one at a time, 1 s bound: ${served.length} × 200, ${refused.length} × 503 in ${elapsed.toFixed(0)} ms; ` +
      `Retry-After (seconds) ${tally(retryAfter)}`)
    assert.equal(served.length + refused.length, answers.length, answers.map(res => res.statusCode).join(' '))
    assert.ok(served.length >= 1 && refused.length >= 1, `${served.length} served, ${refused.length} refused`)
    for (const res of refused) assertHttpError(res, 503, 'Service Unavailable')
    assert.ok(retryAfter.every(s => Number.isInteger(s) && s >= 2 && s <= 120), retryAfter.join(' '))
    assert.ok(new Set(retryAfter).size > 1, `Retry-After values differ: ${[...new Set(retryAfter)].join(' ')}`)
    assert.equal((await passwordGrant(app, users[0]!, PASSWORD)).statusCode, 200, 'served again once the queue drains')
  })
})
