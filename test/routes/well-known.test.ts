import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { build, getMe, jwksOf, registerAndLogin } from '../helper.js'

/* routes/well-known.ts: the published keys (RFC 7517) and the server metadata (RFC 8414). */

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
    assert.equal((await getMe(b, tokens.access_token)).statusCode, 401)
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
    assert.deepEqual(metadata.grant_types_supported, ['password', 'refresh_token', 'authorization_code', 'http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-recovery-code'])
    for (const scope of ['me', 'items', 'admin']) assert.ok(metadata.scopes_supported.includes(scope), scope)
    // The authorization-code flow (issue 23): its endpoint, code only, S256 only, iss in the response.
    assert.equal(metadata.authorization_endpoint, `${issuer}/authorize`)
    assert.deepEqual(metadata.response_types_supported, ['code'])
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256'])
    assert.equal(metadata.authorization_response_iss_parameter_supported, true)
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
