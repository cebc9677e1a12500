import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose'
import type { TokenResponse } from '../../src/schemas/token.js'
import { bearer, PASSWORD } from '../helper.js'
import { call, postForm, registerUser } from '../http-client.js'
import { startInteropServer, uniqueName, rejection } from './helpers.js'

/*
 * jose (https://github.com/panva/jose) as a resource server would use it: verify the server's
 * EdDSA access tokens with the keys published at /.well-known/jwks.json (RFC 7517), pinning the
 * algorithm, typ 'at+jwt', issuer and audience, and read the RFC 9068 claims.
 */

const CLIENT_ID = 'resource-check'
const LIFETIME_MINUTES = 5

async function postToken (base: string, fields: Record<string, string>): Promise<TokenResponse> {
  const res = await postForm<TokenResponse>(base, '/token', fields)
  assert.equal(res.status, 200, `/token: ${res.status} ${res.text}`)
  return res.body
}

describe('jose: access tokens verified through /.well-known/jwks.json', () => {
  it('verifies an EdDSA at+jwt with createRemoteJWKSet + jwtVerify and finds the RFC 9068 claims', async (t) => {
    const { base } = await startInteropServer(t, { ACCESS_TOKEN_EXPIRE_MINUTES: String(LIFETIME_MINUTES) })
    const username = uniqueName('jose')
    const user = await registerUser(base, username)
    const tokens = await postToken(base, { grant_type: 'password', username, password: PASSWORD, client_id: CLIENT_ID })

    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', base), { timeoutDuration: 10_000 })
    const options = { issuer: base, audience: base, typ: 'at+jwt', algorithms: ['EdDSA'] }
    const { payload, protectedHeader, key } = await jwtVerify(tokens.access_token, jwks, options)

    assert.equal(protectedHeader.alg, 'EdDSA')
    assert.equal(protectedHeader.typ, 'at+jwt')
    assert.equal(typeof protectedHeader.kid, 'string', 'a kid, to pick the key from the set')
    assert.equal(key.type, 'public')
    // The key jose chose is the one published under that kid.
    const published = await call<{ keys: Array<Record<string, string>> }>(base, '/.well-known/jwks.json')
    assert.equal(published.status, 200)
    const jwk = published.body.keys.find(k => k.kid === protectedHeader.kid)
    assert.ok(jwk, `kid ${protectedHeader.kid} is in the JWKS`)
    assert.equal(jwk.kty, 'OKP')
    assert.equal(jwk.crv, 'Ed25519')
    assert.equal(jwk.d, undefined, 'no private part in the published key')

    // RFC 9068 §2.2
    assert.equal(payload.iss, base)
    assert.equal(payload.aud, base)
    assert.equal(payload.sub, user.id)
    assert.equal(payload.client_id, CLIENT_ID)
    assert.equal(payload.scope, tokens.scope)
    assert.equal(payload.scope, 'me items')
    assert.equal(typeof payload.jti, 'string')
    assert.ok((payload.jti ?? '').length > 0)
    assert.equal(typeof payload.sid, 'string')
    assert.equal(typeof payload.iat, 'number')
    assert.equal(typeof payload.exp, 'number')
    assert.equal(payload.exp! - payload.iat!, LIFETIME_MINUTES * 60)
    assert.equal(tokens.expires_in, LIFETIME_MINUTES * 60)
    assert.ok(Math.abs(payload.iat! - Date.now() / 1000) < 60, `iat ${payload.iat} is now`)

    // sid is the session the server lists as this token's own.
    const sessions = await call<Array<{ id: string, current: boolean }>>(base, '/users/me/sessions', { headers: bearer(tokens.access_token) })
    assert.equal(sessions.status, 200, sessions.text)
    const current = sessions.body.find(s => s.current)
    assert.equal(current?.id, payload.sid)

    // The refreshed token verifies with the same (cached) key set: same session, new jti.
    const refreshed = await postToken(base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
    const again = await jwtVerify(refreshed.access_token, jwks, options)
    assert.equal(again.payload.sid, payload.sid)
    assert.equal(again.payload.sub, user.id)
    assert.equal(again.payload.client_id, CLIENT_ID)
    assert.notEqual(again.payload.jti, payload.jti)
  })

  it('refuses a token with a changed payload, another audience or another algorithm', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('jose')
    await registerUser(base, username)
    const { access_token: token } = await postToken(base, { username, password: PASSWORD })
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', base), { timeoutDuration: 10_000 })
    const options = { issuer: base, audience: base, typ: 'at+jwt', algorithms: ['EdDSA'] }
    await jwtVerify(token, jwks, options)

    const [header, , signature] = token.split('.') as [string, string, string]
    const forged = [header, Buffer.from(JSON.stringify({ ...decodeJwt(token), scope: 'me items admin' })).toString('base64url'), signature].join('.')
    assert.ok(await rejection(jwtVerify(forged, jwks, options)) instanceof errors.JWSSignatureVerificationFailed)

    const otherAudience = await rejection(jwtVerify(token, jwks, { ...options, audience: 'https://elsewhere.example' }))
    assert.ok(otherAudience instanceof errors.JWTClaimValidationFailed)
    assert.equal(otherAudience.claim, 'aud')

    assert.ok(await rejection(jwtVerify(token, jwks, { ...options, algorithms: ['ES256'] })) instanceof errors.JOSEAlgNotAllowed)
    assert.equal(decodeProtectedHeader(token).alg, 'EdDSA')
  })
})
