import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { PASSWORD } from '../helper.js'
import { registerUser } from '../http-client.js'
import { startInteropServer, uniqueName, rejection } from './helpers.js'

/*
 * oauth4webapi (https://github.com/panva/oauth4webapi) v3 against the real server: RFC 8414
 * discovery, the password grant through its generic grant request, refresh, a protected resource
 * request, and RFC 7009 revocation. oauth4webapi checks responses strictly (issuer match,
 * content types, token_type, RFC 6750 challenges).
 */

const CLIENT_ID = 'web-app'
const client: oauth.Client = { client_id: CLIENT_ID }
// A public client: client_id in the body, no secret (the metadata says 'none').
const clientAuth = oauth.None()
// The issuer is http://127.0.0.1:PORT; oauth4webapi refuses plain HTTP unless told. Each request
// gets a timeout of its own.
const http = () => ({ [oauth.allowInsecureRequests]: true, signal: AbortSignal.timeout(10_000) })

async function discover (base: string) {
  const issuer = new URL(base)
  const response = await oauth.discoveryRequest(issuer, { ...http(), algorithm: 'oauth2' })
  assert.equal(new URL(response.url).pathname, '/.well-known/oauth-authorization-server')
  return await oauth.processDiscoveryResponse(issuer, response)
}

async function passwordGrant (as: oauth.AuthorizationServer, username: string, password: string, scope?: string) {
  const response = await oauth.genericTokenEndpointRequest(as, client, clientAuth, 'password',
    { username, password, ...(scope === undefined ? {} : { scope }) }, http())
  return await oauth.processGenericTokenEndpointResponse(as, client, response)
}

async function refreshGrant (as: oauth.AuthorizationServer, refreshToken: string) {
  const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, http())
  return await oauth.processRefreshTokenResponse(as, client, response)
}

async function getMe (base: string, accessToken: string) {
  return await oauth.protectedResourceRequest(accessToken, 'GET', new URL('/users/me', base), undefined, undefined, http())
}

function assertTokenError (error: unknown, code: string) {
  assert.ok(error instanceof oauth.ResponseBodyError, `a ResponseBodyError, got ${String(error)}`)
  assert.equal(error.error, code)
  assert.equal(error.status, 400)
  assert.equal(typeof error.error_description, 'string')
}

/** oauth4webapi's view of a refused protected resource request: the RFC 6750 challenge it parsed. */
function assertInvalidTokenChallenge (error: unknown) {
  assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, `a WWWAuthenticateChallengeError, got ${String(error)}`)
  assert.equal(error.status, 401)
  const [challenge] = error.cause
  assert.equal(challenge?.scheme, 'bearer')
  assert.equal(challenge.parameters.error, 'invalid_token')
}

describe('oauth4webapi', () => {
  it('discovers the server from its RFC 8414 metadata', async (t) => {
    const { base } = await startInteropServer(t)
    const as = await discover(base)
    assert.equal(as.issuer, base)
    assert.equal(as.token_endpoint, `${base}/token`)
    assert.equal(as.revocation_endpoint, `${base}/token/revoke`)
    assert.equal(as.jwks_uri, `${base}/.well-known/jwks.json`)
    assert.deepEqual([...as.grant_types_supported ?? []].sort(), ['authorization_code', 'http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-recovery-code', 'password', 'refresh_token'])
    for (const scope of ['me', 'items', 'admin']) assert.ok(as.scopes_supported?.includes(scope), `scopes_supported has ${scope}`)
    assert.ok(as.token_endpoint_auth_methods_supported?.includes('none'))
  })

  it('password grant, protected resource, refresh, revocation', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('o4w')
    const user = await registerUser(base, username)
    const as = await discover(base)

    // A wrong password: the RFC 6749 §5.2 body, as oauth4webapi reports it.
    assertTokenError(await rejection(passwordGrant(as, username, `${PASSWORD} not`)), 'invalid_grant')

    const tokens = await passwordGrant(as, username, PASSWORD, 'me items')
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.scope, 'me items')
    assert.equal(typeof tokens.expires_in, 'number')
    assert.ok(tokens.refresh_token)
    const claims = decodeJwt(tokens.access_token)
    assert.equal(claims.sub, user.id)
    assert.equal(claims.client_id, CLIENT_ID, 'the client_id oauth4webapi sent (None(): in the body) is the token\'s')

    const me = await getMe(base, tokens.access_token)
    assert.equal(me.status, 200)
    assert.equal((await me.json() as { id: string }).id, user.id)

    const refreshed = await refreshGrant(as, tokens.refresh_token)
    assert.equal(refreshed.token_type, 'bearer')
    assert.notEqual(refreshed.access_token, tokens.access_token)
    assert.ok(refreshed.refresh_token)
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate')
    assert.equal(refreshed.scope, 'me items')
    assert.equal(decodeJwt(refreshed.access_token).sid, claims.sid)

    // RFC 7009 revocation of the live refresh token: processRevocationResponse resolves undefined.
    const revocation = await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token, {
      ...http(), additionalParameters: { token_type_hint: 'refresh_token' }
    })
    assert.equal(revocation.status, 200)
    assert.equal(await oauth.processRevocationResponse(revocation), undefined)

    // The session is over: its refresh token is invalid_grant and its access token invalid_token.
    assertTokenError(await rejection(refreshGrant(as, refreshed.refresh_token)), 'invalid_grant')
    assertInvalidTokenChallenge(await rejection(getMe(base, refreshed.access_token)))

    // Revoking an unknown token is 200 as well (RFC 7009 §2.2).
    const unknown = await oauth.revocationRequest(as, client, clientAuth, 'not-a-token-this-server-issued', http())
    assert.equal(await oauth.processRevocationResponse(unknown), undefined)
  })

  it('a protected resource request without the scope it needs gets insufficient_scope', async (t) => {
    const { base } = await startInteropServer(t)
    const username = uniqueName('o4w')
    await registerUser(base, username)
    const as = await discover(base)
    const tokens = await passwordGrant(as, username, PASSWORD, 'items')
    assert.equal(tokens.scope, 'items')
    const error = await rejection(getMe(base, tokens.access_token))
    assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, `a WWWAuthenticateChallengeError, got ${String(error)}`)
    assert.equal(error.status, 403)
    assert.equal(error.cause[0]?.scheme, 'bearer')
    assert.equal(error.cause[0].parameters.error, 'insufficient_scope')
    assert.equal(error.cause[0].parameters.scope, 'me')
  })
})
