import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { hash as bcryptHash } from '@node-rs/bcrypt'
import { OverloadedError } from '../../src/errors.js'
import { verifyAnyFormat } from '../../src/services/hash-formats.js'
import {
  createLoadShedder, createPasswordHasher, passwordPolicyViolation, retryAfterSeconds, type PasswordHasher
} from '../../src/services/passwords.js'

describe('password policy', () => {
  const cases: Array<[string, string, number, string | undefined, RegExp | undefined]> = [
    ['accepts any composition of 8+ characters', 'zq ck vb', 8, undefined, undefined],
    ['refuses fewer characters than the configured minimum', 'short-pw1', 15, undefined, /at least 15/],
    ['counts code points, not UTF-16 units', '😀😀😀😀😀😀😀', 8, undefined, /at least 8/],
    ['refuses a common password whatever its case', 'PassWord123', 8, undefined, /too common/],
    ['refuses the username as password', 'JohnDoe1985', 8, 'johndoe1985', /differ from the username/],
    ['refuses more than 1024 characters', 'x'.repeat(1025), 8, undefined, /at most 1024/]
  ]
  for (const [name, password, min, username, expected] of cases) {
    it(name, () => {
      const violation = passwordPolicyViolation(password, min, username)
      if (expected === undefined) assert.equal(violation, undefined)
      else assert.match(violation ?? '', expected)
    })
  }
})

/** load() without the expected wait, which depends on measured times. */
const counts = (passwords: PasswordHasher) => {
  const { active, pending, floorMs } = passwords.load()
  return { active, pending, floorMs }
}

describe('password hasher', () => {
  it('runs at most `concurrency` argon2 computations at once and queues the rest', async () => {
    const passwords = await createPasswordHasher({ concurrency: 2, queueLimit: 10 })
    const stored = await passwords.hash('correct horse battery staple')
    const attempts = ['correct horse battery staple', 'wrong password', 'correct horse battery staple'].map(async p => (await passwords.verify(stored, p)).ok)
    const unknownUser = passwords.verify(undefined, 'correct horse battery staple').then(v => v.ok)
    assert.deepEqual(counts(passwords), { active: 2, pending: 2, floorMs: 0 })
    assert.deepEqual(await Promise.all([...attempts, unknownUser]), [true, false, true, false])
    assert.deepEqual(counts(passwords), { active: 0, pending: 0, floorMs: 0 })
  })

  it('refuses at once, with OverloadedError, a computation past the queue\'s count cap, and drains the rest', async () => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 2 })
    const stored = await passwords.hash('correct horse battery staple')
    const accepted = [1, 2, 3].map(async () => (await passwords.verify(stored, 'correct horse battery staple')).ok)
    assert.deepEqual(counts(passwords), { active: 1, pending: 2, floorMs: 0 })
    await assert.rejects(passwords.verify(stored, 'correct horse battery staple'), OverloadedError)
    await assert.rejects(passwords.hash('another password 1'), OverloadedError)
    await passwords.drain()
    assert.deepEqual(counts(passwords), { active: 0, pending: 0, floorMs: 0 })
    assert.deepEqual(await Promise.all(accepted), [true, true, true])
  })
})

describe('load shedding by expected wait (issue 18)', () => {
  const shedder = (options: { maxWaitMs?: number, queueLimit?: number, random?: () => number } = {}) =>
    createLoadShedder({ concurrency: 2, maxWaitMs: 1000, queueLimit: 1000, initialComputeMs: 100, ...options })

  it('admits a computation while the ones ahead × their average time ÷ concurrency stay within the bound', () => {
    const s = shedder()
    assert.equal(s.expectedWaitMs(1, 0), 0, 'a free slot: no wait')
    assert.equal(s.expectedWaitMs(2, 18), 1000)
    assert.equal(s.refusal(2, 18), undefined, '20 ahead × 100 ms ÷ 2 = 1 s: within the bound')
    assert.equal(typeof s.refusal(2, 19), 'number', '21 ahead: 1.05 s, refused')
  })

  it('follows the measured compute time: faster computations let more wait', () => {
    const s = shedder()
    assert.equal(typeof s.refusal(2, 98), 'number')
    for (let i = 0; i < 30; i++) s.record(10)
    assert.ok(s.averageMs() > 10 && s.averageMs() < 11, `average ${s.averageMs()}`)
    assert.equal(s.refusal(2, 98), undefined, '100 ahead × ~10 ms ÷ 2 ≈ 0.5 s')
    assert.equal(typeof s.refusal(2, 300), 'number', '302 ahead × ~10 ms ÷ 2 ≈ 1.5 s')
  })

  it('keeps a count cap for memory, whatever the expected wait', () => {
    const s = shedder({ queueLimit: 5, maxWaitMs: 60_000 })
    assert.equal(s.refusal(2, 4), undefined)
    assert.equal(typeof s.refusal(2, 5), 'number')
  })

  it('spreads Retry-After over a few seconds from the expected wait, so refused clients do not return together', () => {
    assert.equal(retryAfterSeconds(0, () => 0), 1)
    assert.equal(retryAfterSeconds(0, () => 0.999), 4, '1 s + up to 3 s')
    assert.equal(retryAfterSeconds(6200, () => 0), 7, 'the expected wait, rounded up')
    assert.equal(retryAfterSeconds(6200, () => 0.999), 14, '+ up to as much again')
    const s = shedder()
    const values = Array.from({ length: 50 }, () => s.refusal(2, 100)!)
    const wait = Math.ceil(s.expectedWaitMs(2, 100) / 1000)
    assert.ok(values.every(v => Number.isInteger(v) && v >= wait && v <= 2 * wait), `${wait} s expected: ${values.join(' ')}`)
    assert.ok(new Set(values).size > 1, `they differ: ${values.join(' ')}`)
  })

  it('refuses what would wait past maxWaitMs in the hasher itself, with differing Retry-After, and serves the rest', async () => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 1000, maxWaitMs: 100 })
    const stored = await passwords.hash('correct horse battery staple')
    const outcomes = await Promise.allSettled(Array.from({ length: 80 }, () => passwords.verify(stored, 'correct horse battery staple')))
    const served = outcomes.filter(o => o.status === 'fulfilled')
    const refused = outcomes.flatMap(o => o.status === 'rejected' ? [o.reason as unknown] : [])
    assert.ok(served.length >= 1 && served.every(o => o.value.ok), `${served.length} served`)
    assert.ok(refused.length >= 1 && refused.every(e => e instanceof OverloadedError), `${refused.length} refused`)
    const retryAfter = refused.map(e => (e as OverloadedError).retryAfterSeconds)
    assert.ok(new Set(retryAfter).size > 1, `Retry-After values differ: ${retryAfter.join(' ')}`)
    assert.equal(passwords.load().expectedWaitMs, 0)
  })
})

describe('the timing floor (issue 18)', () => {
  /** The median of `rounds` verifications of `hash` alone, outside any queue (ms). */
  async function computeMs (hash: string, rounds = 5) {
    const times: number[] = []
    for (let i = 0; i < rounds; i++) {
      const started = performance.now()
      await verifyAnyFormat(hash, 'not the password')
      times.push(performance.now() - started)
    }
    return times.sort((a, b) => a - b)[Math.floor(rounds / 2)]!
  }

  it('is the foreign hash\'s own compute time: a burst of queued verifications does not raise it', async (t) => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 1000, maxWaitMs: 60_000 })
    const foreign = await bcryptHash('imported password', 9)
    const native = await passwords.hash('native password 1')
    const alone = await computeMs(foreign)
    const calibrated = await passwords.calibrate([foreign])
    // 40 at once through one slot: the last waits for ~39 others, many times its compute time.
    const started = performance.now()
    await Promise.all(Array.from({ length: 40 }, (_, i) => passwords.verify(i % 4 === 0 ? foreign : native, 'wrong password')))
    const burstMs = performance.now() - started
    const after = passwords.load().floorMs
    t.diagnostic(`bcrypt 9 alone ${alone.toFixed(1)} ms; floor calibrated ${calibrated.toFixed(1)} ms, after a burst of 40 (${burstMs.toFixed(0)} ms) ${after.toFixed(1)} ms`)
    assert.ok(calibrated > 0.3 * alone && calibrated < 3 * alone, `calibrated ${calibrated} against ${alone}`)
    assert.ok(after > 0.3 * alone && after < 3 * alone, `after the burst ${after} against ${alone} (queue wait would add ~${(burstMs / 2).toFixed(0)} ms)`)
  })

  it('makes a native check last at least the floor, with the padding outside the queue', async (t) => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 1000 })
    const floor = await passwords.calibrate([await bcryptHash('imported password', 10)])
    const native = await passwords.hash('native password 1')
    const started = performance.now()
    const checks = Array.from({ length: 4 }, () => passwords.verify(native, 'wrong password'))
    await eventuallyIdle(passwords)
    const queueFreeMs = performance.now() - started
    await Promise.all(checks)
    const totalMs = performance.now() - started
    t.diagnostic(`floor ${floor.toFixed(1)} ms; 4 native checks left the queue after ${queueFreeMs.toFixed(1)} ms, answered after ${totalMs.toFixed(1)} ms`)
    assert.ok(totalMs >= floor - 2, `${totalMs} >= ${floor} (the padding skips under 1 ms)`)
    // Four paddings in the queue would hold it for 4 floors; timers let it go after 4 native computations.
    assert.ok(queueFreeMs < 4 * floor, `the queue was free after ${queueFreeMs} ms, not 4 × ${floor}`)
  })

  it('ends with endFloor', async () => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 10 })
    assert.ok(await passwords.calibrate([await bcryptHash('imported password', 6)]) > 0)
    passwords.endFloor()
    assert.equal(passwords.load().floorMs, 0)
  })
})

/** Polls until no computation runs or waits. */
async function eventuallyIdle (passwords: PasswordHasher) {
  for (let i = 0; i < 500 && passwords.load().active + passwords.load().pending > 0; i++) await new Promise(resolve => setTimeout(resolve, 2))
  assert.equal(passwords.load().active + passwords.load().pending, 0)
}
