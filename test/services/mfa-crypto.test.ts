import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSecretBox, encryptionKeyProblem, hashRecoveryCode, newRecoveryCode, SecretUnreadableError } from '../../src/services/mfa-crypto.js'

/* TOTP secrets at rest (issue 21, threat model T10) and recovery codes (T7). */

const key = () => randomBytes(32).toString('base64')
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'

describe('the secret box (AES-256-GCM under DATA_ENCRYPTION_KEY)', () => {
  it('round-trips a secret for its owner, with a fresh IV each time, and never shows it in clear', () => {
    const box = createSecretBox(key())
    const one = box.seal(SECRET, 'user-1')
    const two = box.seal(SECRET, 'user-1')
    assert.notEqual(one, two)
    assert.match(one, /^v1:[\w-]+:[\w-]+:[\w-]+$/)
    assert.ok(!one.includes(SECRET))
    assert.equal(box.open(one, 'user-1'), SECRET)
    assert.equal(box.encrypts, true)
  })

  it('refuses a row moved to another user, a tampered one, and another key', () => {
    const box = createSecretBox(key())
    const sealed = box.seal(SECRET, 'user-1')
    assert.throws(() => box.open(sealed, 'user-2'), SecretUnreadableError)
    const parts = sealed.split(':')
    const body = Buffer.from(parts[3]!, 'base64url')
    body[0]! ^= 1
    parts[3] = body.toString('base64url')
    assert.throws(() => box.open(parts.join(':'), 'user-1'), SecretUnreadableError)
    assert.throws(() => createSecretBox(key()).open(sealed, 'user-1'), SecretUnreadableError)
    assert.throws(() => createSecretBox(undefined).open(sealed, 'user-1'), SecretUnreadableError)
  })

  it('without a key (development) marks secrets plain, and reads them once a key is set', () => {
    const plain = createSecretBox(undefined).seal(SECRET, 'user-1')
    assert.equal(plain, `plain:${SECRET}`)
    assert.equal(createSecretBox(key()).open(plain, 'user-1'), SECRET)
  })

  it('accepts exactly 32 bytes of base64 as a key', () => {
    assert.equal(encryptionKeyProblem(key()), undefined)
    for (const bad of [randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), 'not base64!', '']) {
      assert.match(encryptionKeyProblem(bad) ?? '', /32/, bad)
      assert.throws(() => createSecretBox(bad), /DATA_ENCRYPTION_KEY/)
    }
  })
})

describe('recovery codes', () => {
  it('are 64 random bits in four groups, distinct, hashed without regard to case or separators', () => {
    const codes = Array.from({ length: 1000 }, newRecoveryCode)
    assert.equal(new Set(codes).size, 1000)
    for (const code of codes) assert.match(code, /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/)
    const code = codes[0]!
    assert.equal(hashRecoveryCode(code.toUpperCase().replaceAll('-', ' ')), hashRecoveryCode(code))
    assert.notEqual(hashRecoveryCode(codes[1]!), hashRecoveryCode(code))
    assert.ok(!hashRecoveryCode(code).includes(code.replaceAll('-', '')))
  })
})
