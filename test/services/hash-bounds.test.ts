import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { hash as argon2Hash } from '@node-rs/argon2'
import { hash as bcryptHash } from '@node-rs/bcrypt'
import { HASH_WORK_LIMITS, hashProblem, verifyAnyFormat } from '../../src/services/hash-formats.js'
import { ARGON2_OPTIONS, createPasswordHasher, hashPassword } from '../../src/services/passwords.js'
import { ab64, overBoundHashes, pbkdf2Of, SALT } from './over-bound-hashes.js'

/*
 * Issue 18, finding 2: stored data must never stop the server. HASH_WORK_LIMITS bound what one
 * verification may cost; these tests measure the limits beside a native verification, and check
 * that a stored hash beyond them is never computed.
 */

describe('the cost bound of one verification (HASH_WORK_LIMITS)', () => {
  it('accepts what FastAPI apps store and refuses one step beyond each limit', async () => {
    const argon2 = (m: number, t: number, p = 1) => `$argon2id$v=19$m=${m},t=${t},p=${p}$c2FsdHNhbHRzYWx0c2FsdA$zJcXGJHjaj1yENJ0JxrjPZxEGkLZqB07rKMmIN7uz74`
    const bcrypt = (cost: number) => (`$2b$${cost}$` + 'n79VH.0Q2TMWmt3Oqt9uku' + 'Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2')
    const pbkdf2 = (rounds: number) => `$pbkdf2-sha256$${rounds}$${ab64(SALT)}$${ab64(Buffer.alloc(32, 1))}`
    const accepted = [bcrypt(12), pbkdf2(29_000), pbkdf2(600_000), argon2(65_536, 3, 4), argon2(102_400, 2, 8), argon2(102_400, 3), argon2(19_456, 15)]
    for (const hash of accepted) assert.equal(hashProblem(hash), undefined, hash)
    const refused: Array<[string, RegExp]> = [
      [bcrypt(13), /bcrypt cost 13 exceeds the limit of 12 \(a login may cost at most/],
      [pbkdf2(600_001), /rounds 600001 exceed the limit of 600000/],
      [argon2(102_401, 1), /memory 102401 KiB exceeds the limit of 102400 KiB/],
      [argon2(102_400, 4), /memory × passes \(102400 KiB × 4\) exceeds the limit of 307200 KiB/],
      [argon2(19_456, 16), /memory × passes/],
      // Found from outside: tiny memory with many passes or lanes stays under m × t and costs seconds.
      [argon2(24, 12_800, 3), /passes 12800 exceed the limit of 16/],
      [argon2(32, 17, 4), /passes 17 exceed the limit of 16/],
      [argon2(102_400, 3, 12_800), /lanes 12800 exceed the limit of 16/],
      [argon2(1024, 2, 17), /lanes 17 exceed the limit of 16/]
    ]
    for (const [hash, problem] of refused) assert.match(hashProblem(hash) ?? '', problem, hash)
  })

  it('keeps each kind at its limit within tens of native verifications (measured, printed)', async (t) => {
    const password = 'correct horse battery staple'
    const kinds: Record<string, string> = {
      'native argon2id m=19456,t=2,p=1': await hashPassword(password, ARGON2_OPTIONS),
      'bcrypt cost 12 (passlib default, the limit)': await bcryptHash(password, HASH_WORK_LIMITS.bcryptMaxCost),
      'pbkdf2-sha256 600,000 rounds (the limit)': await pbkdf2Of(password, HASH_WORK_LIMITS.pbkdf2MaxRounds),
      'argon2id m=102400,t=3 (the limit)': await argon2Hash(password, { memoryCost: HASH_WORK_LIMITS.argon2MaxMemoryKiB, timeCost: 3 })
    }
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map(name => [name, []]))
    for (let round = 0; round < 3; round++) { // interleaved, so the host's noise falls on all alike
      for (const [name, hash] of Object.entries(kinds)) {
        const started = performance.now()
        assert.equal(await verifyAnyFormat(hash, 'not the password'), false)
        times[name]!.push(performance.now() - started)
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1]!
    const native = median(times['native argon2id m=19456,t=2,p=1']!)
    for (const [name, values] of Object.entries(times)) {
      const ratio = median(values) / native
      t.diagnostic(`${name}: ${median(values).toFixed(1)} ms, ${ratio.toFixed(1)} × native`)
      // bcrypt 12 is ~27 × native (hash-formats.ts); the old limits allowed ~450 × (bcrypt 16) and more.
      assert.ok(ratio < 100, `${name}: ${ratio.toFixed(1)} × native`)
    }
  })
})

describe('a stored hash beyond the bound', () => {
  it('is never computed: its check verifies the dummy hash, fails, and takes about a native check', async (t) => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 10 })
    for (const [name, hash] of Object.entries(await overBoundHashes())) {
      assert.ok(hashProblem(hash) !== undefined, name)
      const started = performance.now()
      const verification = await passwords.verify(hash, 'correct horse battery staple')
      const ms = performance.now() - started
      t.diagnostic(`${name}: ${ms.toFixed(1)} ms`)
      assert.deepEqual(verification, { ok: false, rehash: false }, name)
      assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms`)
    }
    assert.equal(passwords.load().floorMs, 0, 'no floor from hashes never computed')
  })

  it('is skipped by calibrate, which therefore sets no floor and returns at once', async (t) => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 10 })
    const started = performance.now()
    const floorMs = await passwords.calibrate(Object.values(await overBoundHashes()))
    const ms = performance.now() - started
    t.diagnostic(`calibrate of three over-bound kinds: ${ms.toFixed(1)} ms`)
    assert.equal(floorMs, 0)
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms`)
  })
})
