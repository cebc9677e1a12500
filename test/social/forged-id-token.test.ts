import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { storeOf, uniqueName } from '../helper.js'
import { buildWithProviders, listen, openCallback, toCallback } from './upstream.js'

/*
 * X6, X7: an ID token that must not be believed, from an upstream this test controls entirely (a
 * discovery document, a JWKS, an authorization endpoint that answers at once, a token endpoint
 * whose ID token the test signs with jose). Each forgery ends on a 4xx page with nobody created or
 * logged in; the same upstream's honest token logs in (so the refusals are the checks', not a
 * broken mock). The checks are oauth4webapi's; this proves the integration asks for them.
 */

const CLIENT = { id: 'forge', name: 'Forge', client_id: 'forge-client', client_secret: 'forge-secret-0123456789abcdef' }

type Forgery = (honest: { claims: JWTPayload, key: CryptoKey, kid: string }) => Promise<string>

async function startForge (t: TestContext) {
  const key = await generateKeyPair('RS256')
  const other = await generateKeyPair('RS256')
  const jwk = { ...await exportJWK(key.publicKey), kid: 'forge-1', alg: 'RS256', use: 'sig' }
  let forge: Forgery = async ({ claims, key, kid }) => await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key)
  const pending = new Map<string, { nonce: string }>()
  const holder: { base?: string } = {}
  const { base } = await listen(t, (req, res) => {
    const url = new URL(req.url ?? '/', holder.base)
    const json = (body: unknown) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(body)) }
    if (url.pathname === '/.well-known/openid-configuration') {
      return json({
        issuer: holder.base,
        authorization_endpoint: `${holder.base}/authorize`,
        token_endpoint: `${holder.base}/token`,
        jwks_uri: `${holder.base}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256']
      })
    }
    if (url.pathname === '/jwks') return json({ keys: [jwk] })
    if (url.pathname === '/authorize') {
      const code = `code-${pending.size + 1}`
      pending.set(code, { nonce: url.searchParams.get('nonce') ?? '' })
      const back = new URL(url.searchParams.get('redirect_uri')!)
      back.search = new URLSearchParams({ code, state: url.searchParams.get('state') ?? '', iss: holder.base! }).toString()
      res.statusCode = 302
      res.setHeader('location', back.href)
      return res.end()
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = ''
      req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8') })
      req.on('end', () => {
        const code = new URLSearchParams(body).get('code') ?? ''
        const now = Math.floor(Date.now() / 1000)
        const claims: JWTPayload = {
          iss: holder.base,
          aud: CLIENT.client_id,
          sub: uniqueName('forged'),
          iat: now,
          exp: now + 300,
          nonce: pending.get(code)?.nonce,
          email: `${uniqueName('f')}@example.org`,
          email_verified: true
        }
        forge({ claims, key: key.privateKey, kid: 'forge-1' })
          .then(idToken => json({ access_token: 'at', token_type: 'Bearer', expires_in: 300, id_token: idToken }))
          .catch((error: unknown) => { res.statusCode = 500; res.end(String(error)) })
      })
      return
    }
    res.statusCode = 404
    res.end()
  })
  holder.base = base
  return {
    issuer: base,
    otherKey: other.privateKey,
    /** how the next ID token is made from the honest claims and key */
    next (forgery: Forgery) { forge = forgery }
  }
}

const sign = (claims: JWTPayload, key: CryptoKey, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'forge-1', ...header }).sign(key)
const unsigned = (claims: JWTPayload) =>
  `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`

describe('X6, X7: forged ID tokens from an upstream the test controls', () => {
  it('refuses a wrong nonce, audience or issuer, an expired token, another key\'s signature, alg none: a 4xx page, nobody created; the honest token logs in', async (t) => {
    const forge = await startForge(t)
    const app = await buildWithProviders(t, [{ ...CLIENT, issuer: forge.issuer }])
    const forgeries: Array<[string, Forgery]> = [
      ['another nonce (a replayed ID token)', async h => await sign({ ...h.claims, nonce: 'not-this-login' }, h.key)],
      ['no nonce', async h => await sign({ ...h.claims, nonce: undefined }, h.key)],
      ['another audience', async h => await sign({ ...h.claims, aud: 'another-client' }, h.key)],
      ['another issuer', async h => await sign({ ...h.claims, iss: 'https://evil.example' }, h.key)],
      ['expired', async h => await sign({ ...h.claims, iat: Number(h.claims.iat) - 3600, exp: Number(h.claims.iat) - 1800 }, h.key)],
      ['signed by another key', async h => await sign(h.claims, forge.otherKey)],
      ['alg none', async h => unsigned(h.claims)]
    ]
    for (const [name, forgery] of forgeries) {
      forge.next(forgery)
      const { callback, cookie } = await toCallback(app, CLIENT.id)
      const res = await openCallback(app, callback, cookie)
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${name}: ${res.statusCode} ${res.body}`)
      assert.equal(res.headers.location, undefined, name)
      assert.match(String(res.headers['content-type']), /^text\/html/, name)
    }
    assert.equal((await storeOf(app).users.list(100, 0)).total, 0, 'nobody created')

    forge.next(async h => await sign(h.claims, h.key))
    const { callback, cookie } = await toCallback(app, CLIENT.id)
    const honest = await openCallback(app, callback, cookie)
    assert.equal(honest.statusCode, 303, honest.body)
    assert.equal((await storeOf(app).users.list(100, 0)).total, 1)
  })
})
