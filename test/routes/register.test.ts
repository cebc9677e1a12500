import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { build, PASSWORD, passwordGrant, uniqueName, assertHttpError, storeOf } from '../helper.js'

const register = (app: FastifyInstance, payload: unknown) =>
  app.inject({ method: 'POST', url: '/register', payload: payload as Record<string, unknown> })

const userCount = async (app: FastifyInstance) => (await storeOf(app).users.list(100, 0)).total

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

describe('POST /register', () => {
  it('answers 201 with exactly the public user', async (t) => {
    const app = await build(t)
    const username = uniqueName('alice')
    const before = Date.now()
    const res = await register(app, { username, password: PASSWORD, email: `${username}@example.com`, full_name: 'Alice Liddell' })
    assert.equal(res.statusCode, 201, res.body)
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/)
    const body = res.json()
    assert.deepEqual(Object.keys(body).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'full_name', 'id', 'is_admin', 'mfa_enabled', 'scopes', 'username'])
    assert.match(body.id, UUID)
    assert.equal(body.username, username)
    assert.equal(body.email, `${username}@example.com`)
    assert.equal(body.full_name, 'Alice Liddell')
    assert.equal(body.disabled, false)
    assert.equal(body.is_admin, false)
    assert.deepEqual(body.scopes, ['me', 'items'])
    const created = Date.parse(body.created_at)
    assert.ok(created >= before - 1000 && created <= Date.now() + 1000, body.created_at)
    for (const secret of ['password', 'password_hash', 'argon2', PASSWORD]) {
      assert.equal(res.body.includes(secret), false, `body contains ${secret}`)
    }
    const stored = await storeOf(app).users.findByLogin(username)
    assert.equal(stored?.id, body.id)
  })

  it('answers null e-mail and full name when they are not given', async (t) => {
    const app = await build(t)
    const username = uniqueName('bare')
    const res = await register(app, { username, password: PASSWORD })
    assert.equal(res.statusCode, 201, res.body)
    assert.equal(res.json().email, null)
    assert.equal(res.json().full_name, null)
  })

  describe('duplicates', () => {
    it('answers 409 for a username taken in another case', async (t) => {
      const app = await build(t)
      const username = uniqueName('Bob')
      assert.equal((await register(app, { username, password: PASSWORD })).statusCode, 201)
      for (const variant of [username, username.toUpperCase(), username.toLowerCase()]) {
        assertHttpError(await register(app, { username: variant, password: PASSWORD }), 409, 'Conflict')
      }
      assert.equal(await userCount(app), 1)
    })

    it('answers 409 for an e-mail taken in another case', async (t) => {
      const app = await build(t)
      const email = `${uniqueName('carol')}@Example.com`
      assert.equal((await register(app, { username: uniqueName('carol'), password: PASSWORD, email })).statusCode, 201)
      for (const variant of [email, email.toUpperCase(), email.toLowerCase()]) {
        assertHttpError(await register(app, { username: uniqueName('carol'), password: PASSWORD, email: variant }), 409, 'Conflict')
      }
      assert.equal(await userCount(app), 1)
    })

    it('creates exactly one account when registrations of one name race', async (t) => {
      const app = await build(t)
      const username = uniqueName('racer')
      const variants = [username, username.toUpperCase(), `R${username.slice(1)}`, username.toLowerCase(), `${username.slice(0, -1)}${username.slice(-1).toUpperCase()}`]
      const results = await Promise.all(variants.map(name => register(app, { username: name, password: PASSWORD })))
      const codes = results.map(r => r.statusCode).sort()
      assert.deepEqual(codes, [201, 409, 409, 409, 409], results.map(r => r.body).join('\n'))
      for (const res of results.filter(r => r.statusCode === 409)) assertHttpError(res, 409, 'Conflict')
      assert.equal(await userCount(app), 1)
    })
  })

  describe('invalid input', () => {
    const name = () => uniqueName('valid')
    const cases: Array<[string, () => unknown]> = [
      ['a missing username', () => ({ password: PASSWORD })],
      ['a missing password', () => ({ username: name() })],
      ['an empty body object', () => ({})],
      ['a 7-character password', () => ({ username: name(), password: 'Xk3#qZ9' })],
      ['a 1025-character password', () => ({ username: name(), password: 'Xk3#'.repeat(256) + 'q' })],
      ['a username with @', () => ({ username: 'dave@example.com', password: PASSWORD })],
      ['a 2-character username', () => ({ username: 'ab', password: PASSWORD })],
      ['a 65-character username', () => ({ username: 'u'.repeat(65), password: PASSWORD })],
      ['a username with a space', () => ({ username: 'dave smith', password: PASSWORD })],
      ['a username with a NUL byte', () => ({ username: 'dave\u0000x', password: PASSWORD })],
      ['a bad e-mail', () => ({ username: name(), password: PASSWORD, email: 'not-an-email' })],
      ['an empty full name', () => ({ username: name(), password: PASSWORD, full_name: '' })],
      ['an extra is_admin property', () => ({ username: name(), password: PASSWORD, is_admin: true })],
      ['an extra disabled property', () => ({ username: name(), password: PASSWORD, disabled: false })],
      ['a number as username', () => ({ username: 12345, password: PASSWORD })],
      ['a number as password', () => ({ username: name(), password: 1234567890123 })],
      ['an array as username', () => ({ username: [name()], password: PASSWORD })],
      ['null as password', () => ({ username: name(), password: null })],
      ['a boolean as e-mail', () => ({ username: name(), password: PASSWORD, email: true })],
      ['a too common password (password1234)', () => ({ username: name(), password: 'password1234' })],
      ['a too common password (qwertyuiop)', () => ({ username: name(), password: 'qwertyuiop' })],
      ['a too common password in another case', () => ({ username: name(), password: 'QwertyUIOP' })],
      ['the username as password', () => { const n = `${name()}long`; return { username: n, password: n.toUpperCase() } }]
    ]

    for (const [label, makeBody] of cases) {
      it(`answers 400 and stores nothing for ${label}`, async (t) => {
        const app = await build(t)
        const body = makeBody() as Record<string, unknown>
        const res = await register(app, body)
        assertHttpError(res, 400, 'Bad Request')
        assert.equal(await userCount(app), 0)
        if (typeof body.username === 'string') {
          assert.equal(await storeOf(app).users.findByLogin(body.username), undefined)
        }
      })
    }

    it('answers 400 for malformed JSON and stores nothing', async (t) => {
      const app = await build(t)
      for (const payload of ['{"username": "erin", "password": ', '{username: "erin"}', '', 'null', '[]', '"erin"']) {
        const res = await app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/json' }, payload })
        assertHttpError(res, 400, 'Bad Request')
      }
      assert.equal(await userCount(app), 0)
    })

    it('rejects a password of over 1024 characters once normalised (NFKC)', async (t) => {
      const app = await build(t)
      // U+FDFA is one code point that NFKC expands to 18: 100 of them are 1800 characters
      const res = await register(app, { username: uniqueName('nfkc'), password: '\uFDFA'.repeat(100) })
      assertHttpError(res, 400, 'Bad Request')
      assert.equal(await userCount(app), 0)
    })

    it('leaves the username free after a refused registration', async (t) => {
      const app = await build(t)
      const username = uniqueName('retry')
      assertHttpError(await register(app, { username, password: PASSWORD, is_admin: true }), 400, 'Bad Request')
      const res = await register(app, { username, password: PASSWORD })
      assert.equal(res.statusCode, 201, res.body)
      assert.equal(res.json().is_admin, false)
    })
  })

  describe('passwords', () => {
    it('accepts a 1024-character password, which then logs in', async (t) => {
      const app = await build(t)
      const username = uniqueName('long')
      const password = 'Xk3#'.repeat(256)
      assert.equal(password.length, 1024)
      const res = await register(app, { username, password })
      assert.equal(res.statusCode, 201, res.body)
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
      // not truncated: one character less is another password
      assert.equal((await passwordGrant(app, username, password.slice(0, -1))).json().error, 'invalid_grant')
    })

    it('counts characters, not UTF-16 units: 1024 emoji are accepted', async (t) => {
      const app = await build(t)
      const username = uniqueName('emoji')
      const password = '\u{1F511}'.repeat(1024)
      assert.equal(password.length, 2048)
      const res = await register(app, { username, password })
      assert.equal(res.statusCode, 201, res.body)
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
    })

    it('accepts a 64-character password', async (t) => {
      const app = await build(t)
      const username = uniqueName('sixtyfour')
      const password = 'The quick brown fox jumps over the lazy dog, then 64 chars: ok!!'
      assert.equal(password.length, 64)
      assert.equal((await register(app, { username, password })).statusCode, 201)
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
    })

    it('verifies the password exactly: no case change, no trimming', async (t) => {
      const app = await build(t)
      const username = uniqueName('exact')
      const password = 'Tr0ub4dor&3-horse'
      assert.equal((await register(app, { username, password })).statusCode, 201)
      for (const attempt of [password.toLowerCase(), password.toUpperCase(), `${password} `, ` ${password}`, password.slice(0, -1), `${password}\n`]) {
        const res = await passwordGrant(app, username, attempt)
        assert.equal(res.statusCode, 400, JSON.stringify(attempt))
        assert.equal(res.json().error, 'invalid_grant', JSON.stringify(attempt))
      }
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
    })

    it('keeps spaces a password starts or ends with', async (t) => {
      const app = await build(t)
      const username = uniqueName('spaces')
      const password = '  padded password  '
      assert.equal((await register(app, { username, password })).statusCode, 201)
      assert.equal((await passwordGrant(app, username, password.trim())).json().error, 'invalid_grant')
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
    })

    it('accepts a Unicode password', async (t) => {
      const app = await build(t)
      const username = uniqueName('unicode')
      const password = 'Pässwörd-日本語-🔑-Ωμέγα'
      assert.equal((await register(app, { username, password })).statusCode, 201)
      assert.equal((await passwordGrant(app, username, password)).statusCode, 200)
      assert.equal((await passwordGrant(app, username, password.replace('ä', 'a'))).json().error, 'invalid_grant')
    })

    it('stores an argon2id hash with m=19456, t=2, p=1', async (t) => {
      const app = await build(t)
      const username = uniqueName('hash')
      assert.equal((await register(app, { username, password: PASSWORD })).statusCode, 201)
      const stored = await storeOf(app).users.findByLogin(username)
      assert.ok(stored !== undefined && stored.password_hash !== null)
      assert.ok(stored.password_hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), stored.password_hash)
      assert.equal(stored.password_hash.includes(PASSWORD), false)
      // salt and hash follow the parameters
      assert.equal(stored.password_hash.split('$').length, 6)
    })
  })

  it('answers 429 with Retry-After past TOKEN_RATE_LIMIT registrations per address', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '2' })
    // refused registrations count too, and cost no hashing
    for (let i = 0; i < 2; i++) assertHttpError(await register(app, { username: uniqueName('rl') }), 400, 'Bad Request')
    const res = await register(app, { username: uniqueName('rl'), password: PASSWORD })
    assertHttpError(res, 429, 'Too Many Requests')
    const retryAfter = Number(res.headers['retry-after'])
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After ${res.headers['retry-after']}`)
    assert.equal(await userCount(app), 0)
  })
})
