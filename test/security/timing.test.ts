import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { assertHttpError, build, PASSWORD, postToken, registerUser, uniqueName } from '../helper.js'

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function timed (app: FastifyInstance, username: string, password: string) {
  const start = performance.now()
  const res = await postToken(app, { username, password })
  const ms = performance.now() - start
  assert.equal(res.statusCode, 400, res.body)
  return ms
}

describe('login timing (ASVS 6.3.8)', () => {
  it('takes the same time for an unknown username as for a wrong password', async (t) => {
    // 80 failed logins from one address: the per-address limit (60 a minute) and the per-account
    // lock (10 failures) would answer 429 without hashing, so both are off for this measurement.
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '0' })
    const { user } = await registerUser(app)
    await timed(app, user.username, 'warm-up password 1')
    const unknown: number[] = []
    const wrong: number[] = []
    for (let round = 0; round < 40; round++) { // interleaved, so the host's noise falls on both alike
      unknown.push(await timed(app, uniqueName('ghost'), 'not the password 1'))
      wrong.push(await timed(app, user.username, 'not the password 1'))
    }
    const ratio = median(unknown) / median(wrong)
    t.diagnostic(`median unknown user ${median(unknown).toFixed(2)} ms, wrong password ${median(wrong).toFixed(2)} ms, ratio ${ratio.toFixed(2)}`)
    // Noise on two shared cores moves either by tens of percent; skipping the hash would be ~10x.
    assert.ok(ratio > 0.5 && ratio < 2, `unknown/wrong = ${ratio.toFixed(2)}`)
  })
})

describe('bounded login queue', () => {
  it('answers 503 with Retry-After at once past PASSWORD_HASH_QUEUE_LIMIT, and the rest as usual', async (t) => {
    const app = await build(t, { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE_LIMIT: '2' })
    const { user } = await registerUser(app)
    const answers = await Promise.all(Array.from({ length: 12 }, () => postToken(app, { username: user.username, password: PASSWORD })))
    const statuses = answers.map(res => res.statusCode)
    assert.ok(statuses.every(status => status === 200 || status === 503), statuses.join(' '))
    assert.ok(statuses.filter(status => status === 200).length >= 3, `one running and two waiting succeed: ${statuses.join(' ')}`)
    const refused = answers.filter(res => res.statusCode === 503)
    assert.ok(refused.length >= 1, statuses.join(' '))
    for (const res of refused) {
      assertHttpError(res, 503, 'Service Unavailable')
      // Spread (services/passwords.ts): the expected wait plus a random part, so clients do not return together.
      const seconds = Number(res.headers['retry-after'])
      assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 120, String(res.headers['retry-after']))
    }
    assert.equal((await postToken(app, { username: user.username, password: PASSWORD })).statusCode, 200, 'served again once the queue drains')
  })
})
