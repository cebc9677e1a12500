import { describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { createApp } from '../src/app.js'
import type { TokenResponse } from '../src/schemas/token.js'
import { bearer, build, login, refresh, registerAndLogin, testConfig } from './helper.js'

const jwksOf = async (app: FastifyInstance) => {
  const res = await app.inject({ url: '/.well-known/jwks.json' })
  assert.equal(res.statusCode, 200)
  return res.json<JSONWebKeySet>()
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid

const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: bearer(token) })

/** A temporary SQLite file, removed when the test ends. */
function tempDatabase (t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'keys-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${join(dir, 'app.db')}`
}

/** Like build(), but the caller decides when the app closes (a restart). */
const open = (databaseUrl: string, env: Record<string, string> = {}) => createApp(testConfig({ DATABASE_URL: databaseUrl, ...env }))

/** The default JWKS max-age (60 s): a rotated key signs after twice that (src/tokens/keys.ts). */
const PUBLISH_DELAY_MS = 2 * 60_000

/** Freezes Date.now() for this test; `t.mock.timers.tick(ms)` moves it on. Timers stay real. */
const freezeClock = (t: TestContext) => t.mock.timers.enable({ apis: ['Date'], now: Date.now() })

describe('GET /.well-known/jwks.json (no JWT_SECRET)', () => {
  it('serves one Ed25519 public key, without its private part', async (t) => {
    const app = await build(t)
    const res = await app.inject({ url: '/.well-known/jwks.json' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    assert.ok(!res.body.includes('PRIVATE'), 'no PEM private key')
    const { keys } = res.json<JSONWebKeySet>()
    assert.equal(keys.length, 1)
    const [key] = keys as [JSONWebKeySet['keys'][number]]
    assert.equal(key.kty, 'OKP')
    assert.equal(key.crv, 'Ed25519')
    assert.equal(key.alg, 'EdDSA')
    assert.equal(key.use, 'sig')
    assert.equal(typeof key.kid, 'string')
    assert.ok(key.kid!.length > 0)
    assert.equal(typeof key.x, 'string')
    assert.equal(Buffer.from(key.x!, 'base64url').length, 32)
    assert.ok(!('d' in key), 'no private key member')
    assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  })

  it('names the key by its RFC 7638 thumbprint', async (t) => {
    const app = await build(t)
    const [key] = (await jwksOf(app)).keys
    assert.ok(key !== undefined)
    assert.equal(key.kid, await calculateJwkThumbprint({ kty: key.kty, crv: key.crv, x: key.x }, 'sha256'))
  })

  it('matches the kid in the header of access tokens', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const header = decodeProtectedHeader(tokens.access_token)
    assert.equal(header.alg, 'EdDSA')
    assert.equal(header.typ, 'at+jwt')
    const { keys } = await jwksOf(app)
    assert.equal(header.kid, keys[0]?.kid)
  })

  it('verifies access tokens with jose, pinning issuer, audience, typ and algorithm', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const jwks = createLocalJWKSet(await jwksOf(app))
    const { issuer, audience } = app.config.auth.jwt
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA'] })
    assert.equal(protectedHeader.alg, 'EdDSA')
    assert.equal(payload.sub, user.id)
    assert.equal(payload.iss, issuer)
    assert.equal(payload.aud, audience)
    assert.equal(payload.scope, tokens.scope)
    for (const claim of ['exp', 'iat', 'jti', 'sid', 'client_id']) assert.ok(payload[claim] !== undefined, claim)
    assert.equal(payload.exp! - payload.iat!, tokens.expires_in)

    await assert.rejects(jwtVerify(tokens.access_token, jwks, { issuer: 'http://elsewhere', audience, algorithms: ['EdDSA'] }))
    await assert.rejects(jwtVerify(tokens.access_token, jwks, { issuer, audience: 'someone-else', algorithms: ['EdDSA'] }))
    await assert.rejects(jwtVerify(tokens.access_token, jwks, { issuer, audience, algorithms: ['ES256'] }))
  })

  it('serves the keys of another app\'s database, not this one\'s', async (t) => {
    const a = await build(t)
    const b = await build(t)
    const { tokens } = await registerAndLogin(a)
    const jwksB = createLocalJWKSet(await jwksOf(b))
    await assert.rejects(jwtVerify(tokens.access_token, jwksB, { algorithms: ['EdDSA'] }))
    assert.equal((await me(b, tokens.access_token)).statusCode, 401)
  })
})

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
    assert.equal((await me(app, before.access_token)).statusCode, 200, 'a token signed before the rotation still works')

    const { tokens: after } = await registerAndLogin(app)
    assert.equal(kidOf(after.access_token), newKid)
    assert.equal((await me(app, after.access_token)).statusCode, 200)
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
    const url = tempDatabase(t)
    const a = await open(url)
    t.after(() => a.close())
    const b = await open(url)
    t.after(() => b.close())
    freezeClock(t)
    const { kid: newKid } = await a.authKeys.rotate()
    t.mock.timers.tick(PUBLISH_DELAY_MS)
    await a.authKeys.reload()
    const { tokens } = await registerAndLogin(a)
    assert.equal(kidOf(tokens.access_token), newKid)
    // b looks an unknown kid up again (at most once a second)
    assert.equal((await me(b, tokens.access_token)).statusCode, 200)
  })

  it('refuses a token whose kid is in no database', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const [, p, s] = tokens.access_token.split('.') as [string, string, string]
    const header = decodeProtectedHeader(tokens.access_token)
    const renamed = `${Buffer.from(JSON.stringify({ ...header, kid: 'no-such-key' })).toString('base64url')}.${p}.${s}`
    const res = await me(app, renamed)
    assert.equal(res.statusCode, 401)
    assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })
})

describe('keys kept in the database', () => {
  it('accepts earlier tokens after a restart on the same database', async (t) => {
    const url = tempDatabase(t)
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
    assert.equal((await me(second, tokens.access_token)).statusCode, 200)
    const res = await refresh(second, tokens.refresh_token)
    assert.equal(res.statusCode, 200)
    const next = res.json<TokenResponse>()
    assert.equal(kidOf(next.access_token), kid)
    assert.equal((await me(second, next.access_token)).statusCode, 200)
  })

  it('lets two apps on one database accept each other\'s tokens', async (t) => {
    const url = tempDatabase(t)
    const a = await open(url)
    t.after(() => a.close())
    const b = await open(url)
    t.after(() => b.close())
    const kidA = (await jwksOf(a)).keys.map(k => k.kid)
    assert.deepEqual((await jwksOf(b)).keys.map(k => k.kid), kidA)
    assert.equal(kidA.length, 1)

    const { user, tokens } = await registerAndLogin(a)
    assert.equal(kidOf(tokens.access_token), kidA[0])
    const res = await me(b, tokens.access_token)
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().id, user.id)

    const fromB = await login(b, user.username)
    assert.equal(kidOf(fromB.access_token), kidA[0])
    assert.equal((await me(a, fromB.access_token)).statusCode, 200)
    // a session ended on one is ended on the other
    assert.equal((await b.inject({ method: 'POST', url: '/logout', headers: bearer(tokens.access_token) })).statusCode, 204)
    assert.equal((await me(a, tokens.access_token)).statusCode, 401)
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
    assert.equal((await me(app, tokens.access_token)).statusCode, 200)
  })

  it('refuses an EdDSA token from a keyed app on an HS256 app', async (t) => {
    const keyed = await build(t)
    const hmac = await build(t, { JWT_SECRET: randomBytes(32).toString('hex') })
    const { tokens } = await registerAndLogin(keyed)
    assert.equal((await me(hmac, tokens.access_token)).statusCode, 401)
  })
})

describe('GET /.well-known/oauth-authorization-server', () => {
  it('describes the server (RFC 8414)', async (t) => {
    const issuer = 'https://auth.example.test'
    const app = await build(t, { JWT_ISSUER: issuer })
    const res = await app.inject({ url: '/.well-known/oauth-authorization-server' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    const metadata = res.json()
    assert.equal(metadata.issuer, issuer)
    assert.equal(metadata.token_endpoint, `${issuer}/token`)
    assert.equal(metadata.revocation_endpoint, `${issuer}/token/revoke`)
    assert.equal(metadata.jwks_uri, `${issuer}/.well-known/jwks.json`)
    assert.deepEqual(metadata.grant_types_supported, ['password', 'refresh_token'])
    for (const scope of ['me', 'items', 'admin']) assert.ok(metadata.scopes_supported.includes(scope), scope)
    assert.ok(!('authorization_endpoint' in metadata) || metadata.authorization_endpoint === undefined, 'no authorization endpoint exists')
  })

  it('uses the default issuer, the one tokens carry', async (t) => {
    const app = await build(t)
    const metadata = (await app.inject({ url: '/.well-known/oauth-authorization-server' })).json()
    const { tokens } = await registerAndLogin(app)
    const payload = decodeJwt(tokens.access_token)
    assert.equal(metadata.issuer, payload.iss)
    assert.equal(metadata.issuer, app.config.auth.jwt.issuer)
  })
})
