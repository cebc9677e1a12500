import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import { createApp } from '../../src/app.js'
import { identityKey, isEmailAddress } from '../../src/identifiers.js'
import { parseUserImport } from '../../src/services/user-import.js'
import { adminLogin, assertHttpError, bearer, isolatedDatabaseUrl, passwordGrant, PASSWORD, testConfig, uniqueName } from '../helper.js'

/*
 * CONTRACT.md: "E-mail addresses with an internationalised domain are accepted (and matched with
 * their punycode form)" (issue 18, finding 10: `…@bücher.example` was refused while
 * `…@xn--bcher-kva.example` worked). The domain is checked and keyed through its IDNA ASCII form
 * (node:url domainToASCII); the local part keeps the ASCII rules; ASCII addresses are unchanged.
 * Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL.
 */

const UNICODE_DOMAIN = 'b\u00fccher.example' // bücher.example
const PUNYCODE_DOMAIN = 'xn--bcher-kva.example'

/** The whole app; mail is queued in the database, never sent (nor written to ./data). */
async function buildApp (t: TestContext): Promise<FastifyInstance> {
  const outbox = mkdtempSync(join(tmpdir(), 'idn-outbox-'))
  t.after(() => rmSync(outbox, { recursive: true, force: true }))
  const config = testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), TOKEN_RATE_LIMIT: '0' })
  const app = await createApp({ ...config, mail: { ...config.mail, outboxDir: outbox, worker: { ...config.mail.worker, intervalMs: 3_600_000 } } })
  t.after(() => app.close())
  return app
}

const register = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/register', payload: { username: uniqueName('idn'), password: PASSWORD, ...fields } })

/** The recipients of the queued messages of this purpose's subject. */
async function queuedTo (app: FastifyInstance, subject: RegExp) {
  const rows = await app.db.selectFrom('mail_outbox').select(['recipient', 'subject']).execute()
  return rows.filter(row => subject.test(row.subject)).map(row => row.recipient)
}

describe('e-mail addresses with an internationalised domain', () => {
  it('registers jose@bücher.example (201, stored as given); its punycode form, in any case, is the same address (409)', async (t) => {
    const app = await buildApp(t)
    const email = `jose@${UNICODE_DOMAIN}`
    const res = await register(app, { email })
    assert.equal(res.statusCode, 201, res.body)
    assert.equal(res.json().email, email)
    for (const same of [`jose@${PUNYCODE_DOMAIN}`, 'JOSE@XN--BCHER-KVA.EXAMPLE', 'Jose@B\u00dcCHER.example']) {
      assertHttpError(await register(app, { email: same }), 409, 'Conflict')
    }
    const rows = await app.db.selectFrom('users').select(['email', 'email_key']).where('email', 'is not', null).execute()
    assert.deepEqual(rows.map(row => ({ ...row })), [{ email, email_key: `jose@${PUNYCODE_DOMAIN}` }]) // node:sqlite rows have no prototype
  })

  it('registered in punycode, the Unicode form is the same address (409)', async (t) => {
    const app = await buildApp(t)
    assert.equal((await register(app, { email: `ana@${PUNYCODE_DOMAIN}` })).statusCode, 201)
    assertHttpError(await register(app, { email: `ana@${UNICODE_DOMAIN}` }), 409, 'Conflict')
  })

  it('logs in at /token with the address in either form, as the same user', async (t) => {
    const app = await buildApp(t)
    const res = await register(app, { email: `jose@${UNICODE_DOMAIN}` })
    const id = res.json<{ id: string }>().id
    for (const login of [`jose@${UNICODE_DOMAIN}`, `jose@${PUNYCODE_DOMAIN}`, 'JOSE@B\u00dcCHER.EXAMPLE', 'jose@xn--BCHER-kva.example']) {
      const token = await passwordGrant(app, login)
      assert.equal(token.statusCode, 200, `${login}: ${token.body}`)
      assert.equal(decodeJwt(token.json<{ access_token: string }>().access_token).sub, id, login)
    }
    const wrong = await passwordGrant(app, `jose@${PUNYCODE_DOMAIN}`, 'not the password at all')
    assert.equal(wrong.json().error, 'invalid_grant')
  })

  it('/forgot-password with either form queues the reset mail to the stored address', async (t) => {
    const app = await buildApp(t)
    const unicode = `jose@${UNICODE_DOMAIN}`
    const punycode = `ana@${PUNYCODE_DOMAIN}`
    assert.equal((await register(app, { email: unicode })).statusCode, 201)
    assert.equal((await register(app, { email: punycode })).statusCode, 201)
    for (const asked of [`jose@${PUNYCODE_DOMAIN}`, `ana@${UNICODE_DOMAIN}`]) {
      const res = await app.inject({ method: 'POST', url: '/forgot-password', payload: { email: asked } })
      assert.equal(res.statusCode, 202, res.body)
    }
    await app.authRecovery.resolveRequests(10) // the worker's step (it idles here)
    assert.deepEqual((await queuedTo(app, /reset/i)).sort(), [punycode, unicode].sort())
  })

  it('an admin cannot give another user the punycode form of a taken address (409); the owner may switch forms', async (t) => {
    const app = await buildApp(t)
    const owner = await register(app, { email: `jose@${UNICODE_DOMAIN}` })
    const other = await register(app, { email: 'other@example.com' })
    const { tokens } = await adminLogin(app)
    const patch = (id: string, email: string) => app.inject({ method: 'PATCH', url: `/users/${id}`, headers: bearer(tokens.access_token), payload: { email } })
    assertHttpError(await patch(other.json().id, `JOSE@${PUNYCODE_DOMAIN}`), 409, 'Conflict')
    const switched = await patch(owner.json().id, `jose@${PUNYCODE_DOMAIN}`)
    assert.equal(switched.statusCode, 200, switched.body)
    assert.equal(switched.json().email, `jose@${PUNYCODE_DOMAIN}`)
  })

  for (const email of [
    'jos\u00e9@example.com', // a non-ASCII local part: the local part rules are unchanged
    `jos\u00e9@${UNICODE_DOMAIN}`,
    'jose@b\u00fc cher.example', // a space
    'jose@b\u00fc%41cher.example', // a %-escape, which the URL parser would decode
    'jose@b\u00fc_cher.example', // an underscore, as in ASCII domains
    `jose@${UNICODE_DOMAIN}.`, // a trailing dot, as in ASCII domains
    'jose@b\u00fccher', // a single label, as in ASCII domains
    'jose@\u00fc\u00fc..example', // an empty label
    'jose@xn--zz.example\u00fc', // invalid punycode beside a Unicode label
    'jose@b\u00fc\ufffdcher.example', // U+FFFD is no letter of a domain
    `jose@${'\u00fc'.repeat(64)}.example`, // a label over 63 characters once encoded
    `jose@@${UNICODE_DOMAIN}`,
    `@${UNICODE_DOMAIN}`,
    // Look-alikes IDNA maps onto another domain's name: the address must read as the domain it is (found from outside)
    'jose@\uFF45xample.org', // full-width e → example.org
    'jose@\u212Aexample.org', // Kelvin sign → kexample.org
    'jose@example\u3002org', // ideographic full stop → example.org
    'jose@exam\u00ADple.org', // a soft hyphen, which IDNA drops
    'jose@\u24D4xample.org', // circled e
    'jose@B\u00DCCHER.example\u00AD' // a soft hyphen at the end
  ]) {
    it(`refuses ${JSON.stringify(email)} at /register (400)`, async (t) => {
      const app = await buildApp(t)
      assertHttpError(await register(app, { email }), 400, 'Bad Request')
    })
  }

  it('makes an IDN address the FIRST_SUPERUSER (a username /register would accept as an e-mail), who logs in with it', async (t) => {
    const app = await buildApp(t)
    const admin = `root@${UNICODE_DOMAIN}`
    assert.equal(await app.authAccounts.ensureAdmin(admin, PASSWORD), true)
    assert.equal((await passwordGrant(app, `ROOT@${PUNYCODE_DOMAIN}`)).statusCode, 200)
  })

  it('imports rows with an IDN address, and finds two forms of one address in a file duplicates', () => {
    const hash = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW'
    const one = parseUserImport([{ username: 'jose', email: `jose@${UNICODE_DOMAIN}`, hashed_password: hash }])
    assert.ok(one.ok, JSON.stringify(one))
    const two = parseUserImport([
      { username: 'jose', email: `jose@${UNICODE_DOMAIN}`, hashed_password: hash },
      { username: 'jose2', email: `JOSE@${PUNYCODE_DOMAIN}`, hashed_password: hash }
    ])
    assert.equal(two.ok, false)
    assert.ok(!two.ok)
    assert.match(two.errors[0]!.message, /duplicate e-mail/)
  })
})

describe('ASCII addresses are unchanged', () => {
  const ajvEmail = addFormats.default.get('email') as RegExp
  const samples = [
    'john@example.com', 'John.Doe+tag@Example.COM', 'a@b.co', "o'neil@example.org", 'x@xn--bcher-kva.example', 'x@localhost',
    'x@-example.com', 'x@example-.com', 'x@exa_mple.com', 'x@example.com.', 'x@.example.com', 'x..y@example.com', '.x@example.com',
    'x@example..com', 'x@127.0.0.1', 'x@[127.0.0.1]', 'x y@example.com', 'x@example', '@example.com', 'x@', 'x@%41.com', 'x@0x7f.1'
  ]
  it('accepts and refuses exactly what ajv-formats does', () => {
    for (const sample of samples) assert.equal(isEmailAddress(sample), ajvEmail.test(sample), sample)
  })
  it('keys them as before: NFKC and lower case, nothing else', () => {
    for (const sample of [...samples, 'ALICE', '\uff41lice', 'John@Example.COM']) {
      assert.equal(identityKey(sample), sample.normalize('NFKC').toLowerCase(), sample)
    }
  })
  it('keys an internationalised domain by its punycode form, and nothing else in the address', () => {
    assert.equal(identityKey(`Jose@${UNICODE_DOMAIN}`), `jose@${PUNYCODE_DOMAIN}`)
    assert.equal(identityKey('jose@B\u00dcCHER.example'), `jose@${PUNYCODE_DOMAIN}`)
    assert.equal(identityKey('jose@\u4f8b\u3048.\u30c6\u30b9\u30c8'), 'jose@xn--r8jz45g.xn--zckzah')
    assert.equal(identityKey('not an address'), 'not an address')
    assert.equal(identityKey('jose@b\u00fc cher.example'), 'jose@b\u00fc cher.example', 'an invalid domain is left as it is (no account can have it)')
  })
})
