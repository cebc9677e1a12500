import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pbkdf2Sync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hash as argon2Hash, type Options as Argon2Options } from '@node-rs/argon2'
import {
  HASH_FORMATS, HASH_WORK_LIMITS, formatOf, hashProblem, needsRehash, verifyAnyFormat, type HashFormatName
} from '../../src/services/hash-formats.js'
import { ARGON2_OPTIONS, hashPassword } from '../../src/services/passwords.js'

/** test/fixtures/foreign-hashes.json, written by scripts/make-hash-fixtures.py with passlib and argon2-cffi. */
type Fixture = {
  generated_with: Record<string, string>
  cases: Array<{
    name: string
    format: HashFormatName
    hash: string
    password: string
    accepts?: string[]
    refuses: Array<{ password: string, passlib: string }>
  }>
}
// Read from the source tree, also when this file runs compiled from dist/test/services (npm test).
const FIXTURES = new URL(import.meta.url.endsWith('.ts') ? '../fixtures/' : '../../../test/fixtures/', import.meta.url)
const fixture = JSON.parse(readFileSync(new URL('foreign-hashes.json', FIXTURES), 'utf8')) as Fixture
const utf8Length = (text: string) => Buffer.byteLength(text, 'utf8')
const show = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 20)}…${text.slice(-12)} (${utf8Length(text)} bytes)` : text)

describe('hashes made by passlib and argon2-cffi (test/fixtures/foreign-hashes.json)', () => {
  it('has every format and variant, and bcrypt passwords beyond 72 bytes', () => {
    const prefixes = new Set(fixture.cases.map(c => c.hash.slice(0, c.hash.indexOf('$', 1) + 1)))
    for (const prefix of ['$2a$', '$2b$', '$2y$', '$pbkdf2-sha256$', '$argon2id$', '$argon2i$', '$argon2d$']) {
      assert.ok(prefixes.has(prefix), `a ${prefix} case`)
    }
    const long = fixture.cases.filter(c => c.format === 'bcrypt' && utf8Length(c.password) > 72)
    assert.ok(long.length >= 4, 'bcrypt cases over 72 bytes')
    assert.ok(long.some(c => /[\u0080-\u{10ffff}]/u.test(c.password)), 'a multibyte one among them')
  })

  for (const c of fixture.cases) {
    describe(c.name, () => {
      it(`is identified as ${c.format} and can be verified`, () => {
        assert.equal(formatOf(c.hash)?.name, c.format)
        assert.equal(hashProblem(c.hash), undefined)
      })

      it('accepts the password, and every other password passlib accepts', async () => {
        const passwords = [c.password, ...c.accepts ?? []]
        const results = await Promise.all(passwords.map(p => verifyAnyFormat(c.hash, p)))
        passwords.forEach((p, i) => assert.equal(results[i], true, `${show(p)} accepted`))
      })

      it('refuses every password passlib refuses', async () => {
        const results = await Promise.all(c.refuses.map(r => verifyAnyFormat(c.hash, r.password)))
        c.refuses.forEach((r, i) => assert.equal(results[i], false, `${show(r.password)} refused (passlib: ${r.passlib})`))
      })
    })
  }
})

describe('bcrypt beyond 72 bytes, as passlib (truncate_error=False) on pyca/bcrypt', () => {
  const byName = (part: string) => {
    const found = fixture.cases.find(c => c.name.includes(part))
    assert.ok(found, part)
    return found
  }

  it('uses only the first 72 UTF-8 bytes, even half of a two-byte character', async () => {
    const c = byName('splits a two-byte character')
    const bytes = Buffer.from(c.password)
    assert.ok(bytes.length > 72 && (bytes[71]! & 0xc0) === 0xc0, 'byte 72 starts a character')
    // A different character sharing only its first byte (C3) with the original one at the cut:
    assert.equal(await verifyAnyFormat(c.hash, 'a' + '\u00e9'.repeat(35) + '\u00c3'), true)
    assert.equal(await verifyAnyFormat(c.hash, 'a' + '\u00e9'.repeat(35)), false)
  })

  it('refuses a NUL byte and more than 4096 bytes, where passlib raises', async () => {
    const tutorial = byName('cost 12')
    assert.equal(await verifyAnyFormat(tutorial.hash, `${tutorial.password}\u0000`), false)
    const longest = byName('4096 UTF-8 bytes')
    assert.equal(utf8Length(longest.password), 4096)
    assert.equal(await verifyAnyFormat(longest.hash, longest.password), true)
    assert.equal(await verifyAnyFormat(longest.hash, `${longest.password}x`), false)
  })
})

describe('NFKC', () => {
  const raw = '\ufb01sh \uff50\uff41\uff53\uff53 caf\u00e9' // a ligature and full-width letters
  const nfkc = raw.normalize('NFKC')

  it('verifies this project\'s own argon2id hashes (of the NFKC form) with the password as typed', async () => {
    const ours = await hashPassword(raw)
    assert.equal(await verifyAnyFormat(ours, raw), true)
    assert.equal(await verifyAnyFormat(ours, nfkc), true)
    assert.equal(await verifyAnyFormat(ours, 'fish pass cafe'), false)
  })

  it('verifies a foreign argon2 hash of the raw password, which an NFKC-only check would refuse', async () => {
    const c = fixture.cases.find(c => c.format === 'argon2' && c.password.normalize('NFKC') !== c.password)
    assert.ok(c)
    assert.equal(needsRehash(c.hash, ARGON2_OPTIONS), false, 'same parameters as ours')
    assert.equal(await verifyAnyFormat(c.hash, c.password), true)
    assert.equal(await verifyAnyFormat(c.hash, c.password.normalize('NFKC')), false)
  })

  it('accepts an NFKC equivalent for argon2 only (the rule this project applies to its own hashes)', async () => {
    const foreign = await argon2Hash(nfkc, { algorithm: 1, memoryCost: 1024, timeCost: 1 })
    assert.equal(await verifyAnyFormat(foreign, raw), true)
    const pbkdf2 = fixture.cases.find(c => c.format === 'pbkdf2-sha256' && c.password.normalize('NFKC') !== c.password)
    assert.ok(pbkdf2)
    assert.equal(await verifyAnyFormat(pbkdf2.hash, pbkdf2.password.normalize('NFKC')), false)
  })
})

describe('needsRehash', () => {
  const argon2 = (options: Argon2Options) => argon2Hash('password', { ...ARGON2_OPTIONS, ...options })
  const cases: Array<[string, () => Promise<string>, boolean]> = [
    ['our own hash at ARGON2_OPTIONS', () => hashPassword('password'), false],
    ['argon2id at the same parameters, made elsewhere', () => argon2({}), false],
    ['argon2id with more memory', () => argon2({ memoryCost: 65536 }), true],
    ['argon2id with less memory', () => argon2({ memoryCost: 8192 }), true],
    ['argon2id with more passes', () => argon2({ timeCost: 3 }), true],
    ['argon2id with more lanes', () => argon2({ parallelism: 2 }), true],
    ['argon2id with a 16-byte digest', () => argon2({ outputLen: 16 }), true],
    ['argon2id with an 8-byte salt', () => argon2({ salt: Buffer.alloc(8, 7) }), true],
    ['argon2i', () => argon2({ algorithm: 1 }), true],
    ['argon2d', () => argon2({ algorithm: 0 }), true],
    ['argon2id version 0x10', () => argon2({ version: 0 }), true],
    ['passlib bcrypt', async () => fixture.cases.find(c => c.format === 'bcrypt')!.hash, true],
    ['passlib pbkdf2-sha256', async () => fixture.cases.find(c => c.format === 'pbkdf2-sha256')!.hash, true],
    ['a malformed argon2 hash', async () => '$argon2id$v=19$m=19456,t=2,p=1$', true],
    ['an unknown format', async () => 'fakehashedsecret', true]
  ]
  for (const [name, make, expected] of cases) {
    it(`${expected ? 'replaces' : 'keeps'} ${name}`, async () => {
      assert.equal(needsRehash(await make(), ARGON2_OPTIONS), expected)
    })
  }

  it('takes @node-rs/argon2\'s defaults for options left out', async () => {
    const ours = await hashPassword('password')
    assert.equal(needsRehash(ours, {}), false)
    assert.equal(needsRehash(ours, { memoryCost: 65536 }), true)
  })
})

describe('malformed and unusable hashes', () => {
  const bcrypt = fixture.cases.find(c => c.hash.startsWith('$2b$04$'))!
  const pbkdf2 = fixture.cases.find(c => c.name.includes('default rounds'))!
  const argon2 = fixture.cases.find(c => c.format === 'argon2' && c.hash.includes('m=2048'))!
  const [, , pbRounds, pbSalt, pbChecksum] = pbkdf2.hash.split('$')
  const cases: Array<[string, string, string, RegExp]> = [
    ['empty', '', bcrypt.password, /unknown hash format/],
    ['plain text (the tutorial before hashing)', 'fakehashedsecret', 'secret', /unknown hash format/],
    ['bcrypt $2x$', bcrypt.hash.replace('$2b$', '$2x$'), bcrypt.password, /unknown hash format/],
    ['bcrypt $2$', bcrypt.hash.replace('$2b$', '$2$'), bcrypt.password, /unknown hash format/],
    ['passlib bcrypt_sha256', '$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2', 'x', /unknown/],
    ['passlib pbkdf2_sha512', `$pbkdf2-sha512$${pbRounds}$${pbSalt}$${pbChecksum}`, pbkdf2.password, /unknown/],
    ['bcrypt cut short', bcrypt.hash.slice(0, 40), bcrypt.password, /malformed bcrypt/],
    ['bcrypt with a trailing newline', `${bcrypt.hash}\n`, bcrypt.password, /malformed bcrypt/],
    ['bcrypt with leading space', ` ${bcrypt.hash}`, bcrypt.password, /unknown/],
    ['bcrypt with a character outside its alphabet', bcrypt.hash.slice(0, -1) + '+', bcrypt.password, /malformed bcrypt/],
    ['bcrypt cost 03', bcrypt.hash.replace('$04$', '$03$'), bcrypt.password, /outside 4-31/],
    ['bcrypt cost 32', bcrypt.hash.replace('$04$', '$32$'), bcrypt.password, /outside 4-31/],
    ['bcrypt cost 13 (over the limit)', bcrypt.hash.replace('$04$', '$13$'), bcrypt.password, /cost 13 exceeds the limit of 12/],
    ['bcrypt cost 16 (accepted before issue 18)', bcrypt.hash.replace('$04$', '$16$'), bcrypt.password, /cost 16 exceeds the limit of 12/],
    ['pbkdf2 without checksum', `$pbkdf2-sha256$${pbRounds}$${pbSalt}`, pbkdf2.password, /malformed pbkdf2/],
    ['pbkdf2 with zero-padded rounds', `$pbkdf2-sha256$0${pbRounds}$${pbSalt}$${pbChecksum}`, pbkdf2.password, /malformed pbkdf2/],
    ['pbkdf2 with 0 rounds', `$pbkdf2-sha256$0$${pbSalt}$${pbChecksum}`, pbkdf2.password, /outside 1-/],
    ['pbkdf2 with 2^32 rounds', `$pbkdf2-sha256$4294967296$${pbSalt}$${pbChecksum}`, pbkdf2.password, /outside 1-/],
    ['pbkdf2 over the rounds limit', `$pbkdf2-sha256$600001$${pbSalt}$${pbChecksum}`, pbkdf2.password, /600001 exceed the limit of 600000/],
    ['pbkdf2 with 10 million rounds (accepted before issue 18)', `$pbkdf2-sha256$10000000$${pbSalt}$${pbChecksum}`, pbkdf2.password, /exceed the limit/],
    ['pbkdf2 with a 31-byte checksum', `$pbkdf2-sha256$${pbRounds}$${pbSalt}$${pbChecksum!.slice(0, 42)}`, pbkdf2.password, /32 bytes/],
    ['pbkdf2 with a 33-byte checksum', `$pbkdf2-sha256$${pbRounds}$${pbSalt}$${pbChecksum}AA`, pbkdf2.password, /32 bytes/],
    ['pbkdf2 with an impossible base64 length', `$pbkdf2-sha256$${pbRounds}$${pbSalt}AAA$${pbChecksum}`, pbkdf2.password, /salt/],
    ['pbkdf2 with base64 padding', `$pbkdf2-sha256$${pbRounds}$${pbSalt}$${pbChecksum}=`, pbkdf2.password, /malformed pbkdf2/],
    ['argon2 without digest', argon2.hash.slice(0, argon2.hash.lastIndexOf('$')), argon2.password, /malformed argon2/],
    ['argon2 with a bad parameter', argon2.hash.replace('m=2048', 'm=lots'), argon2.password, /malformed argon2/],
    ['argon2 over the memory limit', argon2.hash.replace('m=2048', 'm=102401'), argon2.password, /memory 102401 KiB exceeds the limit of 102400/],
    ['argon2 with 2 GiB (accepted before issue 18)', argon2.hash.replace('m=2048', 'm=2097152'), argon2.password, /memory 2097152 KiB exceeds/],
    ['argon2 over memory × passes', argon2.hash.replace('m=2048,t=1', 'm=65536,t=5'), argon2.password, /memory × passes \(65536 KiB × 5\) exceeds the limit of 307200/],
    ['argon2 with an unknown variant', argon2.hash.replace('$argon2d$', '$argon2x$'), argon2.password, /unknown/]
  ]
  for (const [name, hash, password, problem] of cases) {
    it(`refuses ${name}, without throwing`, async () => {
      assert.match(hashProblem(hash) ?? '', problem)
      assert.equal(await verifyAnyFormat(hash, password), false)
    })
  }

  it('never throws for values that are not strings', async () => {
    for (const value of [undefined, null, 42, {}, ['$2b$']]) {
      assert.equal(formatOf(value as unknown as string), undefined)
      assert.equal(await verifyAnyFormat(value as unknown as string, 'secret'), false)
      assert.equal(await verifyAnyFormat(bcrypt.hash, value as unknown as string), false)
      assert.equal(await verifyAnyFormat(pbkdf2.hash, value as unknown as string), false)
      assert.equal(await verifyAnyFormat(argon2.hash, value as unknown as string), false)
    }
  })

  it('refuses a password with a lone surrogate (not UTF-8; passlib raises)', async () => {
    for (const c of [bcrypt, pbkdf2, argon2]) {
      assert.equal(await verifyAnyFormat(c.hash, `${c.password}\ud800`), false, c.format)
    }
  })

  it('refuses passwords over passlib\'s 4096 characters, even when the hash matches (as passlib)', async () => {
    // passlib cannot hash them, so these hashes are made here; the script asserts that passlib refuses 4097.
    const salt = Buffer.from('saltsaltsaltsalt')
    const pbkdf2Of = (password: string) => `$pbkdf2-sha256$1000$${salt.toString('base64').replace(/=+$/, '').replaceAll('+', '.')}$` +
      pbkdf2Sync(password, salt, 1000, 32, 'sha256').toString('base64').replace(/=+$/, '').replaceAll('+', '.')
    const argon2Of = (password: string) => argon2Hash(password, { memoryCost: 1024, timeCost: 1 })
    for (const [size, expected] of [[4096, true], [4097, false]] as const) {
      const password = 'x'.repeat(size)
      assert.equal(await verifyAnyFormat(pbkdf2Of(password), password), expected, `pbkdf2, ${size}`)
      assert.equal(await verifyAnyFormat(await argon2Of(password), password), expected, `argon2, ${size}`)
    }
    // code points, as Python's len(): 4096 astral characters are 8192 UTF-16 units
    const astral = '\u{1f511}'.repeat(4096)
    assert.equal(await verifyAnyFormat(pbkdf2Of(astral), astral), true)
  })
})

describe('the registry', () => {
  it('lists bcrypt, pbkdf2-sha256 and argon2, each matching only its own prefixes', () => {
    assert.deepEqual(HASH_FORMATS.map(f => f.name), ['bcrypt', 'pbkdf2-sha256', 'argon2'])
    const table: Array<[string, HashFormatName | undefined]> = [
      ['$2a$12$', 'bcrypt'], ['$2b$12$', 'bcrypt'], ['$2y$12$', 'bcrypt'], ['$2x$12$', undefined],
      ['$pbkdf2-sha256$29000$', 'pbkdf2-sha256'], ['$pbkdf2$1000$', undefined],
      ['$argon2id$v=19$', 'argon2'], ['$argon2i$v=19$', 'argon2'], ['$argon2d$v=19$', 'argon2'],
      ['$scrypt$ln=16', undefined], ['$6$rounds=5000$', undefined]
    ]
    for (const [prefix, name] of table) assert.equal(formatOf(prefix)?.name, name, prefix)
  })

  it('states its work limits: at most bcrypt cost 12\'s work and 100 MiB (test/services/hash-bounds.test.ts measures them)', () => {
    assert.deepEqual({ ...HASH_WORK_LIMITS }, {
      bcryptMaxCost: 12, pbkdf2MaxRounds: 600_000, argon2MaxMemoryKiB: 102_400, argon2MaxMemoryTimesPasses: 307_200, argon2MaxPasses: 16, argon2MaxLanes: 16
    })
    assert.ok(Object.isFrozen(HASH_WORK_LIMITS) && Object.isFrozen(HASH_FORMATS))
  })
})
