import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { decodeProtectedHeader } from 'jose'
import { bearer, isolatedDatabaseUrl, uniqueName } from '../helper.js'
import { type Answer, call, login, postForm, register, registerAndLogin } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

/*
 * Several processes of the real entry point (src/server.ts through tsx, or dist/src/server.js
 * under npm test) on one PostgreSQL database: what a load-balanced deployment sees.
 */
const POSTGRES = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true
// One issuer and audience for every instance: the default one contains the port.
const ISSUER = 'http://multi-instance.test'

/** Starts a server process on the database with the shared issuer. */
const startServer = async (t: TestContext, databaseUrl: string, env: Record<string, string> = {}) =>
  (await startServerProcess(t, { DATABASE_URL: databaseUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: ISSUER, ...env })).base

/** Instance A, healthy (so it has created the signing key), then instance B on the same database. */
async function startPair (t: TestContext, env: Record<string, string> = {}) {
  const databaseUrl = await isolatedDatabaseUrl()
  const a = await startServer(t, databaseUrl, env)
  const b = await startServer(t, databaseUrl, env)
  return { a, b }
}

function assertInvalidToken (res: Answer) {
  assert.equal(res.status, 401, res.text)
  assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
}

function assertInvalidGrant (res: Answer) {
  assert.equal(res.status, 400, res.text)
  assert.equal(res.body.error, 'invalid_grant')
}

describe('several server processes on one PostgreSQL database', { skip: POSTGRES ? false : 'needs TEST_DATABASE_URL=postgres://… (scripts/with-postgres.sh)' }, () => {
  it('accepts on B an access token issued by A', async (t) => {
    const { a, b } = await startPair(t)
    const { user, tokens } = await registerAndLogin(a)
    const me = await call(b, '/users/me', { headers: bearer(tokens.access_token) })
    assert.equal(me.status, 200, me.text)
    assert.equal(me.body.id, user.id)
    assert.equal(me.body.username, user.username)
  })

  it('serves on B the key A signs with: both JWKS are the same', async (t) => {
    const { a, b } = await startPair(t)
    const { tokens } = await registerAndLogin(a)
    const { kid } = decodeProtectedHeader(tokens.access_token)
    assert.equal(typeof kid, 'string')
    const [jwksA, jwksB] = await Promise.all([call(a, '/.well-known/jwks.json'), call(b, '/.well-known/jwks.json')])
    assert.equal(jwksA.status, 200)
    assert.equal(jwksB.status, 200)
    const keysB = jwksB.body.keys as Array<{ kid: string }>
    assert.ok(keysB.some(k => k.kid === kid), `kid ${kid} not in B's JWKS: ${jwksB.text}`)
    assert.deepEqual(jwksB.body, jwksA.body)
  })

  it('refuses on B, at once, the tokens of a session ended on A', async (t) => {
    const { a, b } = await startPair(t)
    const { tokens } = await registerAndLogin(a)
    // B has seen the token before: nothing it remembers may keep it alive.
    assert.equal((await call(b, '/users/me', { headers: bearer(tokens.access_token) })).status, 200)

    const logout = await call(a, '/logout', { method: 'POST', headers: bearer(tokens.access_token) })
    assert.equal(logout.status, 204, logout.text)

    assertInvalidToken(await call(b, '/users/me', { headers: bearer(tokens.access_token) }))
    assertInvalidGrant(await postForm(b, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }))
  })

  it('refuses on A, at once, the access token of a refresh token revoked on B', async (t) => {
    const { a, b } = await startPair(t)
    const { tokens } = await registerAndLogin(a)
    assert.equal((await call(a, '/users/me', { headers: bearer(tokens.access_token) })).status, 200)

    const revoke = await postForm(b, '/token/revoke', { token: tokens.refresh_token, token_type_hint: 'refresh_token' })
    assert.equal(revoke.status, 200, revoke.text)

    assertInvalidToken(await call(a, '/users/me', { headers: bearer(tokens.access_token) }))
    assertInvalidGrant(await postForm(a, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }))
  })

  it('lets at most one of concurrent refreshes of one token win, split across both, under strict rotation', async (t) => {
    const { a, b } = await startPair(t, { REFRESH_REUSE_INTERVAL_SECONDS: '0' })
    const { user } = await registerAndLogin(a)
    const bases = [a, b]
    let winners = 0
    for (let round = 0; round < 15; round++) {
      const start = await login(bases[round % 2]!, user.username)
      const parallel = round % 2 === 0 ? 2 : 4
      const results = await Promise.all(Array.from({ length: parallel }, (_, i) =>
        postForm(bases[(i + round) % 2]!, '/token', { grant_type: 'refresh_token', refresh_token: start.refresh_token })))
      const summary = `round ${round}: ${results.map(r => `${r.status} ${r.text}`).join(' | ')}`
      assert.ok(results.every(r => r.status < 500), summary)
      const ok = results.filter(r => r.status === 200)
      assert.ok(ok.length <= 1, `${ok.length} of ${parallel} refreshes succeeded; ${summary}`)
      for (const r of results.filter(r => r.status !== 200)) assertInvalidGrant(r)
      winners += ok.length
    }
    // The race must produce winners, or it proves nothing.
    assert.ok(winners > 0, 'no refresh ever succeeded')
  })

  it('gives every one of N concurrent refreshes of one token, split across both, the same successor (reuse interval)', async (t) => {
    const { a, b } = await startPair(t) // the default interval: 10 s
    const { user } = await registerAndLogin(a)
    const bases = [a, b]
    let refreshes = 0
    for (let round = 0; round < 10; round++) {
      const start = await login(bases[round % 2]!, user.username)
      const parallel = 2 + (round % 7) // 2 to 8 tabs
      const results = await Promise.all(Array.from({ length: parallel }, (_, i) =>
        postForm(bases[(i + round) % 2]!, '/token', { grant_type: 'refresh_token', refresh_token: start.refresh_token })))
      const summary = `round ${round}: ${results.map(r => `${r.status} ${r.text}`).join(' | ')}`
      assert.ok(results.every(r => r.status === 200), summary)
      refreshes += results.length
      const successors = new Set(results.map(r => r.body.refresh_token as string))
      assert.equal(successors.size, 1, summary)
      // That successor is the session's one live refresh token, on either instance.
      const [successor] = successors
      const next = await postForm(bases[(round + 1) % 2]!, '/token', { grant_type: 'refresh_token', refresh_token: successor! })
      assert.equal(next.status, 200, next.text)
    }
    assert.ok(refreshes >= 40)
  })

  it('registers a username once when it arrives at both in different case at the same time', async (t) => {
    const { a, b } = await startPair(t)
    for (let round = 0; round < 5; round++) {
      const name = uniqueName('dup')
      const results = await Promise.all([register(a, name.toUpperCase()), register(b, name.toLowerCase())])
      const summary = `round ${round}: ${results.map(r => `${r.status} ${r.text}`).join(' | ')}`
      assert.deepEqual(results.map(r => r.status).sort(), [201, 409], summary)
      const conflict = results.find(r => r.status === 409)!
      assert.equal(conflict.body.statusCode, 409)
      assert.equal(conflict.body.error, 'Conflict')
      assert.equal(typeof conflict.body.message, 'string')
    }
  })
})
