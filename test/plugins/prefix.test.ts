import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import auth from '../../plugins/auth/index.js'
import mail from '../../plugins/mail.js'
import authRoutes from '../../routes/auth/index.js'
import wellKnownRoutes, { metadataPath } from '../../routes/well-known.js'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest } from '../../src/db/migrations.js'
import { createSqlMailStore } from '../../src/stores/sql-mail-store.js'
import { createSqlStore } from '../../src/stores/sql-store.js'
import { PASSWORD } from '../helper.js'
import { FAST_WORKER, postJson } from '../mail/helpers.js'
import { startSmtp } from '../mail/smtp.js'

/*
 * The plugin mounted under a prefix (issue 18, finding 9; CONTRACT.md "The plugin"): the RFC 8414
 * metadata sits where RFC 8414 puts it for the issuer and names the real endpoints, and the links
 * in e-mails include the prefix without PUBLIC_URL saying it.
 */

const SECRET = 'a-mounted-app-secret-of-at-least-32-bytes'

async function mounted (t: TestContext, issuer: string, options: { wellKnownPrefix?: string, publicUrl?: string, smtpUrl?: string } = {}) {
  const { db } = createDatabase('sqlite::memory:')
  t.after(() => db.destroy())
  await migrateToLatest(db)
  const app = Fastify()
  t.after(() => app.close())
  await app.register(auth, { store: createSqlStore(db), jwt: { secret: SECRET, issuer } })
  if (options.smtpUrl !== undefined) await app.register(mail, { store: createSqlMailStore(db), smtpUrl: options.smtpUrl, publicUrl: options.publicUrl, worker: FAST_WORKER })
  // The well-known routes first, as an app may: the endpoints are read when asked.
  await app.register(wellKnownRoutes, options.wellKnownPrefix === undefined ? {} : { prefix: options.wellKnownPrefix })
  await app.register(authRoutes, { prefix: '/auth' })
  await app.ready()
  if (options.smtpUrl !== undefined) app.mailOutbox.start() // a server would start it when listening
  return app
}

describe('RFC 8414 metadata with authRoutes under /auth', () => {
  it('places the metadata document by the issuer\'s path', () => {
    assert.equal(metadataPath('https://api.example.test'), '/.well-known/oauth-authorization-server')
    assert.equal(metadataPath('https://api.example.test/'), '/.well-known/oauth-authorization-server')
    assert.equal(metadataPath('https://api.example.test/auth'), '/.well-known/oauth-authorization-server/auth')
    assert.equal(metadataPath('urn:example:auth'), '/.well-known/oauth-authorization-server')
  })

  for (const issuer of ['https://api.example.test', 'https://api.example.test/auth']) {
    it(`serves it at the RFC location for the issuer ${issuer}, naming /auth/token (not /auth/auth/token), and the endpoints answer`, async (t) => {
      const app = await mounted(t, issuer)
      const res = await app.inject({ url: metadataPath(issuer) })
      assert.equal(res.statusCode, 200, res.body)
      const metadata = res.json()
      assert.equal(metadata.issuer, issuer)
      assert.equal(metadata.token_endpoint, 'https://api.example.test/auth/token')
      assert.equal(metadata.revocation_endpoint, 'https://api.example.test/auth/token/revoke')
      assert.equal(metadata.jwks_uri, 'https://api.example.test/.well-known/jwks.json')
      // Every URL it names is served by this app.
      for (const url of [metadata.token_endpoint, metadata.revocation_endpoint]) {
        const answer = await app.inject({ method: 'POST', url: new URL(url).pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=password&username=nobody&password=whatever1' })
        assert.notEqual(answer.statusCode, 404, url)
      }
      assert.equal((await app.inject({ url: new URL(metadata.jwks_uri).pathname })).statusCode, 200)
    })
  }

  it('keeps the documents under a prefix given to wellKnownRoutes too (the README\'s earlier advice), beside the RFC location', async (t) => {
    const app = await mounted(t, 'https://api.example.test', { wellKnownPrefix: '/auth' })
    for (const url of ['/.well-known/oauth-authorization-server', '/auth/.well-known/oauth-authorization-server']) {
      const res = await app.inject({ url })
      assert.equal(res.statusCode, 200, url)
      assert.equal(res.json().token_endpoint, 'https://api.example.test/auth/token', url)
    }
    assert.equal((await app.inject({ url: '/auth/.well-known/jwks.json' })).statusCode, 200)
  })
})

describe('e-mail links with authRoutes under /auth', () => {
  for (const publicUrl of ['https://api.example.test', 'https://api.example.test/auth']) {
    it(`point under the prefix with PUBLIC_URL ${publicUrl}`, async (t) => {
      const smtp = await startSmtp(t)
      const app = await mounted(t, 'https://api.example.test', { smtpUrl: smtp.url, publicUrl })
      const email = 'prefixed@example.com'
      assert.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'prefixed', password: PASSWORD, email } })).statusCode, 201)
      const [verification] = await smtp.waitFor(email, 1)
      assert.match(verification!.link ?? '', /^https:\/\/api\.example\.test\/auth\/verify\?token=/)
      assert.equal((await app.inject({ url: new URL(verification!.link!).pathname + new URL(verification!.link!).search })).statusCode, 200)
      assert.equal((await postJson(app, '/auth/forgot-password', { email })).statusCode, 202)
      const [, reset] = await smtp.waitFor(email, 2)
      assert.match(reset!.link ?? '', /^https:\/\/api\.example\.test\/auth\/reset-password\?token=/)
    })
  }
})
