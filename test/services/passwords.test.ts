import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { OverloadedError } from '../../src/errors.js'
import { createPasswordHasher, passwordPolicyViolation } from '../../src/services/passwords.js'

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

describe('password hasher', () => {
  it('runs at most `concurrency` argon2 computations at once and queues the rest', async () => {
    const passwords = await createPasswordHasher({ concurrency: 2, queueLimit: 10 })
    const stored = await passwords.hash('correct horse battery staple')
    const attempts = ['correct horse battery staple', 'wrong password', 'correct horse battery staple'].map(async p => (await passwords.verify(stored, p)).ok)
    const unknownUser = passwords.verify(undefined, 'correct horse battery staple').then(v => v.ok)
    assert.deepEqual(passwords.load(), { active: 2, pending: 2, floorMs: 0 })
    assert.deepEqual(await Promise.all([...attempts, unknownUser]), [true, false, true, false])
    assert.deepEqual(passwords.load(), { active: 0, pending: 0, floorMs: 0 })
  })

  it('refuses at once, with OverloadedError, a computation past the queue bound, and drains the rest', async () => {
    const passwords = await createPasswordHasher({ concurrency: 1, queueLimit: 2 })
    const stored = await passwords.hash('correct horse battery staple')
    const accepted = [1, 2, 3].map(async () => (await passwords.verify(stored, 'correct horse battery staple')).ok)
    assert.deepEqual(passwords.load(), { active: 1, pending: 2, floorMs: 0 })
    await assert.rejects(passwords.verify(stored, 'correct horse battery staple'), OverloadedError)
    await assert.rejects(passwords.hash('another password 1'), OverloadedError)
    await passwords.drain()
    assert.deepEqual(passwords.load(), { active: 0, pending: 0, floorMs: 0 })
    assert.deepEqual(await Promise.all(accepted), [true, true, true])
  })
})
