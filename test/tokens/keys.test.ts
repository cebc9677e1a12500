import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { createApp } from '../../src/app.js'
import type { TokenResponse } from '../../src/schemas/token.js'
import { bearer, build, getMe, jwksOf, login, refresh, registerAndLogin, testConfig, sqliteFile } from '../helper.js'

/* The signing keys (src/tokens/keys.ts): rotation, keys kept in the database, HS256 mode. */

const kidOf = (token: string) => decodeProtectedHeader(token).kid

/** Like build(), but the caller decides when the app closes (a restart). */
const open = (databaseUrl: string, env: Record<string, string> = {}) => createApp(testConfig({ DATABASE_URL: databaseUrl, ...env }))

/** Two apps (instances) on one database file, closed when the test ends. */
async function twoApps (t: TestContext) {
  const url = sqliteFile(t)
  const apps = [await open(url), await open(url)] as const
  for (const app of apps) t.after(() => app.close())
  return apps
}

/** The default JWKS max-age (60 s): a rotated key signs after twice that (src/tokens/keys.ts). */
const PUBLISH_DELAY_MS = 2 * 60_000

/** Freezes Date.now() for this test; `t.mock.timers.tick(ms)` moves it on. Timers stay real. */
const freezeClock = (t: TestContext) => t.mock.timers.enable({ apis: ['Date'], now: Date.now() })

describe('signing key rotation', () => {
  it('publishes a new key before it signs, then signs with it and keeps accepting the old key\'s tokens', async (t) => {
    const app = await build(t)
    freezeClock(t)
    const { tokens: before } = await registerAndLogin(app)
    const oldKid = kidOf(before.access_token)

    const { kid: newKid, signsFrom } = await app.authKeys.rotate()
    assert.notEqual(newKid, oldKid)
    assert.equal(signsFrom.getTime(), Date.now() + PUBLISH_DELAY_MS)
    assert.deepEqual((await jwksOf(app)).keys.map(k => k.kid).sort(), [oldKid, newKid].sort(), 'published at once')
    const { tokens: during } = await registerAndLogin(app)
    assert.equal(kidOf(during.access_token), oldKid, 'the old key signs until every verifier can know the new one')

    t.mock.timers.tick(PUBLISH_DELAY_MS)
    await app.authKeys.reload()
    assert.equal((await getMe(app, before.access_token)).statusCode, 200, 'a token signed before the rotation still works')

    const { tokens: after } = await registerAndLogin(app)
    assert.equal(kidOf(after.access_token), newKid)
    assert.equal((await getMe(app, after.access_token)).statusCode, 200)
    const refreshed = await refresh(app, before.refresh_token)
    assert.equal(refreshed.statusCode, 200)
    assert.equal(kidOf(refreshed.json<TokenResponse>().access_token), newKid, 'a refresh is signed with the new key')

    const jwks = await jwksOf(app)
    assert.deepEqual(jwks.keys.map(k => k.kid).sort(), [oldKid, newKid].sort())
    // both tokens verify against the published set
    const set = createLocalJWKSet(jwks)
    const { issuer, audience } = app.config.auth.jwt
    for (const token of [before.access_token, after.access_token]) {
      await jwtVerify(token, set, { issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA'], currentDate: new Date() })
    }
    const listed = await app.authKeys.list()
    assert.equal(listed.find(k => k.kid === newKid)?.retired_at, null)
    assert.notEqual(listed.find(k => k.kid === oldKid)?.retired_at, null, 'the old key is retired')

    // Retired keys stay published until the last token they signed has expired, then go.
    t.mock.timers.tick(15 * 60_000 + PUBLISH_DELAY_MS + 1)
    await app.authKeys.reload()
    assert.deepEqual((await jwksOf(app)).keys.map(k => k.kid), [newKid])
  })

  it('reaches another instance on the same database that has not reloaded yet', async (t) => {
    const [a, b] = await twoApps(t)
    freezeClock(t)
    const { kid: newKid } = await a.authKeys.rotate()
    t.mock.timers.tick(PUBLISH_DELAY_MS)
    await a.authKeys.reload()
    const { tokens } = await registerAndLogin(a)
    assert.equal(kidOf(tokens.access_token), newKid)
    // b looks an unknown kid up again (at most once a second)
    assert.equal((await getMe(b, tokens.access_token)).statusCode, 200)
  })

  it('refuses a token whose kid is in no database', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const [, p, s] = tokens.access_token.split('.') as [string, string, string]
    const header = decodeProtectedHeader(tokens.access_token)
    const renamed = `${Buffer.from(JSON.stringify({ ...header, kid: 'no-such-key' })).toString('base64url')}.${p}.${s}`
    const res = await getMe(app, renamed)
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })
})

describe('keys kept in the database', () => {
  it('accepts earlier tokens after a restart on the same database', async (t) => {
    const url = sqliteFile(t)
    const first = await open(url)
    let tokens: TokenResponse
    let kid: string | undefined
    try {
      tokens = (await registerAndLogin(first)).tokens
      kid = (await jwksOf(first)).keys[0]?.kid
    } finally {
      await first.close()
    }

    const second = await open(url)
    t.after(() => second.close())
    assert.deepEqual((await jwksOf(second)).keys.map(k => k.kid), [kid], 'the same key, not a new one')
    assert.equal((await getMe(second, tokens.access_token)).statusCode, 200)
    const res = await refresh(second, tokens.refresh_token)
    assert.equal(res.statusCode, 200)
    const next = res.json<TokenResponse>()
    assert.equal(kidOf(next.access_token), kid)
    assert.equal((await getMe(second, next.access_token)).statusCode, 200)
  })

  it('lets two apps on one database accept each other\'s tokens', async (t) => {
    const [a, b] = await twoApps(t)
    const kidA = (await jwksOf(a)).keys.map(k => k.kid)
    assert.deepEqual((await jwksOf(b)).keys.map(k => k.kid), kidA)
    assert.equal(kidA.length, 1)

    const { user, tokens } = await registerAndLogin(a)
    assert.equal(kidOf(tokens.access_token), kidA[0])
    const res = await getMe(b, tokens.access_token)
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().id, user.id)

    const fromB = await login(b, user.username)
    assert.equal(kidOf(fromB.access_token), kidA[0])
    assert.equal((await getMe(a, fromB.access_token)).statusCode, 200)
    // a session ended on one is ended on the other
    assert.equal((await b.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })).statusCode, 204)
    assert.equal((await getMe(a, tokens.access_token)).statusCode, 401)
  })
})

describe('HS256 mode (JWT_SECRET set)', () => {
  it('serves an empty JWK set and signs HS256 tokens', async (t) => {
    const secret = randomBytes(32).toString('hex')
    const app = await build(t, { JWT_SECRET: secret })
    const jwks = await jwksOf(app)
    assert.deepEqual(jwks, { keys: [] })

    const { tokens } = await registerAndLogin(app)
    const header = decodeProtectedHeader(tokens.access_token)
    assert.equal(header.alg, 'HS256')
    assert.equal(header.typ, 'at+jwt')
    const { issuer, audience } = app.config.auth.jwt
    await jwtVerify(tokens.access_token, new TextEncoder().encode(secret), { issuer, audience, typ: 'at+jwt', algorithms: ['HS256'] })
    await assert.rejects(jwtVerify(tokens.access_token, new TextEncoder().encode('z'.repeat(64)), { algorithms: ['HS256'] }))
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
  })

  it('refuses an EdDSA token from a keyed app on an HS256 app', async (t) => {
    const keyed = await build(t)
    const hmac = await build(t, { JWT_SECRET: randomBytes(32).toString('hex') })
    const { tokens } = await registerAndLogin(keyed)
    assert.equal((await getMe(hmac, tokens.access_token)).statusCode, 401)
  })
})
