import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'
import { assertNoStore, assertSessionEnded, build, FORM, form, getMe, login, refresh, registerAndLogin } from '../helper.js'

/* routes/auth/revocation.ts: POST /token/revoke (RFC 7009). */

const revoke = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/token/revoke', headers: FORM, payload: form(fields) })

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** RFC 7009's 200, with the body `{}` as JSON the contract asks for (JSON-only client libraries need one). */
function assertRevokedBody (res: LightMyRequestResponse) {
  assert.match(String(res.headers['content-type']), /^application\/json/)
  assert.deepEqual(res.json(), {})
}

describe('POST /token/revoke', () => {
  it('ends the session of a refresh token', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await revoke(app, { token: tokens.refresh_token, token_type_hint: 'refresh_token' })
    assert.equal(res.statusCode, 200)
    assertRevokedBody(res)
    assert.equal(res.headers['cache-control'], 'no-store')
    await assertSessionEnded(app, tokens)
  })

  for (const hint of ['access_token', undefined, 'refresh_token']) {
    it(`ends the session of an access token (hint ${hint ?? 'none'})`, async (t) => {
      const app = await build(t)
      const { tokens } = await registerAndLogin(app)
      assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
      const res = await revoke(app, hint === undefined ? { token: tokens.access_token } : { token: tokens.access_token, token_type_hint: hint })
      assert.equal(res.statusCode, 200)
      assertRevokedBody(res)
      await assertSessionEnded(app, tokens)
    })
  }

  it('ends a refresh token\'s session whatever the hint says', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await revoke(app, { token: tokens.refresh_token, token_type_hint: 'access_token' })
    assert.equal(res.statusCode, 200)
    await assertSessionEnded(app, tokens)
  })

  it('ends only the session of the revoked token', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const other = await login(app, user.username)
    assert.equal((await revoke(app, { token: tokens.refresh_token })).statusCode, 200)
    assert.equal((await getMe(app, other.access_token)).statusCode, 200)
    assert.equal((await refresh(app, other.refresh_token)).statusCode, 200)
  })

  for (const [name, token] of [
    ['an unknown opaque token', 'not-a-token-we-issued'],
    ['an unknown JWT-looking token', 'aaa.bbb.ccc'],
    ['a token already revoked', undefined]
  ] as const) {
    it(`answers 200 for ${name}`, async (t) => {
      const app = await build(t)
      const { tokens } = await registerAndLogin(app)
      if (token === undefined) assert.equal((await revoke(app, { token: tokens.refresh_token })).statusCode, 200)
      const res = await revoke(app, { token: token ?? tokens.refresh_token, token_type_hint: 'refresh_token' })
      assert.equal(res.statusCode, 200)
      assertRevokedBody(res)
      if (token !== undefined) assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
    })
  }

  it('answers invalid_request without a token', async (t) => {
    const app = await build(t)
    for (const fields of [{}, { token_type_hint: 'refresh_token' }, { token: '' }] as Array<Record<string, string>>) {
      const res = await revoke(app, fields)
      assert.equal(res.statusCode, 400, JSON.stringify(fields))
      assert.equal(res.json().error, 'invalid_request')
      assertNoStore(res)
    }
  })

  it('does not end a session for a forged JWT that names it', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const header = decodeProtectedHeader(tokens.access_token)
    const payload = decodeJwt(tokens.access_token)
    const [h, p, s] = tokens.access_token.split('.') as [string, string, string]
    // the real token with a flipped signature
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`
    // same header (kid) and claims, signed by a key of the attacker's
    const { privateKey } = generateKeyPairSync('ed25519')
    const input = `${b64url(header)}.${b64url({ ...payload, jti: randomUUID() })}`
    const foreign = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`
    // alg none
    const none = `${b64url({ ...header, alg: 'none' })}.${p}.`
    for (const forged of [flipped, foreign, none]) {
      for (const hint of ['access_token', 'refresh_token']) {
        assert.equal((await revoke(app, { token: forged, token_type_hint: hint })).statusCode, 200)
      }
      assert.equal((await getMe(app, forged)).statusCode, 401, 'the forged token itself is refused')
    }
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
  })

  it('does not end a session for a JWT signed with the HS256 secret of another server', async (t) => {
    const secret = 'x'.repeat(40)
    const app = await build(t, { JWT_SECRET: secret })
    const { tokens } = await registerAndLogin(app)
    const payload = decodeJwt<{ scope: string, sid: string, client_id: string }>(tokens.access_token)
    // a token of another server (another secret) carrying this server's sid, issuer and audience
    const foreign = await new SignJWT({ scope: payload.scope, sid: payload.sid, client_id: payload.client_id })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(String(payload.sub)).setJti(randomUUID()).setIssuer(String(payload.iss)).setAudience(String(payload.aud))
      .setIssuedAt().setExpirationTime('5m')
      .sign(new TextEncoder().encode('y'.repeat(40)))
    assert.equal((await revoke(app, { token: foreign, token_type_hint: 'access_token' })).statusCode, 200)
    assert.equal((await getMe(app, tokens.access_token)).statusCode, 200)
  })
})
