import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import { ResourceOwnerPassword } from 'simple-oauth2'
import { bearer, PASSWORD } from '../helper.js'
import { call, registerUser } from '../http-client.js'
import { startInteropServer, uniqueName } from './helpers.js'

/*
 * simple-oauth2 (https://github.com/lelylan/simple-oauth2) ResourceOwnerPassword against the
 * real server. The library reads every answer as strict JSON (@hapi/wreck, json: 'strict'),
 * revocation answers included: CONTRACT.md has POST /token/revoke answer `{}` as
 * application/json for exactly this kind of client.
 */

const CLIENT_ID = 'node-cli'

/** The client as an app would configure it: a public client (empty secret) sent as HTTP Basic, the default. */
const clientFor = (base: string) => new ResourceOwnerPassword({
  client: { id: CLIENT_ID, secret: '' },
  auth: { tokenHost: base, tokenPath: '/token', revokePath: '/token/revoke' },
  http: { timeout: 10_000 }
})

/** What simple-oauth2 rejects with on an HTTP error: a Boom error from @hapi/wreck, the parsed body in data.payload. */
interface BoomLike { isBoom?: boolean, output?: { statusCode: number }, data?: { payload?: unknown } }

async function rejection (promise: Promise<unknown>): Promise<BoomLike> {
  try {
    await promise
  } catch (error) {
    return error as BoomLike
  }
  assert.fail('expected the call to be rejected')
}

function assertOAuthError (error: BoomLike, status: number, code: string) {
  assert.equal(error.isBoom, true, `a Boom error from simple-oauth2, got ${String(error)}`)
  assert.equal(error.output?.statusCode, status)
  assert.deepEqual((error.data?.payload as { error?: unknown } | undefined)?.error, code, JSON.stringify(error.data?.payload))
}

describe('simple-oauth2 ResourceOwnerPassword', () => {
  it('getToken with a wrong password rejects with the server\'s invalid_grant', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('so2')
    await registerUser(base, username)
    assertOAuthError(await rejection(clientFor(base).getToken({ username, password: `${PASSWORD} not` })), 400, 'invalid_grant')
  })

  it('getToken, then refresh: a new pair for the same session, accepted at /users/me', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('so2')
    const user = await registerUser(base, username)
    const client = clientFor(base)

    const before = Date.now()
    const accessToken = await client.getToken({ username, password: PASSWORD, scope: ['me', 'items'] })
    const token = accessToken.token
    assert.equal(token.token_type, 'bearer')
    assert.equal(token.scope, 'me items')
    assert.equal(typeof token.access_token, 'string')
    assert.equal(typeof token.refresh_token, 'string')
    assert.equal(typeof token.expires_in, 'number')
    // simple-oauth2 turns expires_in into an expires_at Date.
    assert.ok(token.expires_at instanceof Date)
    assert.ok(Math.abs(token.expires_at.getTime() - (before + (token.expires_in as number) * 1000)) < 30_000)
    assert.equal(accessToken.expired(), false)
    const claims = decodeJwt(token.access_token as string)
    assert.equal(claims.sub, user.id)
    assert.equal(claims.client_id, CLIENT_ID, 'the client id simple-oauth2 sent (HTTP Basic, empty secret) is the token\'s')

    const me = await call(base, '/users/me', { headers: bearer(token.access_token as string) })
    assert.equal(me.status, 200, me.text)
    assert.equal(me.body.username, username)

    const refreshed = await accessToken.refresh()
    assert.notEqual(refreshed.token.access_token, token.access_token)
    assert.notEqual(refreshed.token.refresh_token, token.refresh_token, 'refresh tokens rotate')
    assert.equal(refreshed.token.scope, 'me items')
    const refreshedClaims = decodeJwt(refreshed.token.access_token as string)
    assert.equal(refreshedClaims.sid, claims.sid)
    assert.equal(refreshedClaims.client_id, CLIENT_ID)
    assert.equal((await call(base, '/users/me', { headers: bearer(refreshed.token.access_token as string) })).status, 200)

    // Within the reuse interval (a lost answer, a second tab) the spent token gets the same successor.
    const again = await accessToken.refresh()
    assert.equal(again.token.refresh_token, refreshed.token.refresh_token)
    assert.equal(decodeJwt(again.token.access_token as string).sid, claims.sid)
    // Once that successor was used, the spent token is reuse: invalid_grant, and the session ends.
    const third = await refreshed.refresh()
    assertOAuthError(await rejection(accessToken.refresh()), 400, 'invalid_grant')
    assert.equal((await call(base, '/users/me', { headers: bearer(third.token.access_token as string) })).status, 401)
  })

  it('revoke(\'access_token\') resolves with the server\'s {} and ends the session', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('so2')
    await registerUser(base, username)
    const accessToken = await clientFor(base).getToken({ username, password: PASSWORD })
    const access = accessToken.token.access_token as string
    assert.equal((await call(base, '/users/me', { headers: bearer(access) })).status, 200)

    // Typed Promise<void>, but simple-oauth2 resolves with the parsed body: CONTRACT.md's {}.
    // (With an empty body and no content type it rejects: "The content-type is not JSON compatible".)
    const answer: unknown = await accessToken.revoke('access_token')
    assert.deepEqual(answer, {})

    const me = await call(base, '/users/me', { headers: bearer(access) })
    assert.equal(me.status, 401, me.text)
    assert.match(me.headers.get('www-authenticate') ?? '', /^Bearer\b.*error="invalid_token"/)
    // The session of the access token is over, its refresh token with it (RFC 7009 §2.1 allows it; this server does it).
    assertOAuthError(await rejection(accessToken.refresh()), 400, 'invalid_grant')
  })

  it('revokeAll resolves and leaves neither token usable', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('so2')
    await registerUser(base, username)
    const accessToken = await clientFor(base).getToken({ username, password: PASSWORD })

    // revoke('access_token') then revoke('refresh_token'): the second one names a token whose
    // session already ended, which RFC 7009 also answers with 200 (and CONTRACT.md with {}).
    await accessToken.revokeAll()

    assert.equal((await call(base, '/users/me', { headers: bearer(accessToken.token.access_token as string) })).status, 401)
    assertOAuthError(await rejection(accessToken.refresh()), 400, 'invalid_grant')
  })
})
