import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { clientsFile } from '../authorization-helpers.js'
import { registerUser } from '../http-client.js'
import { PASSWORD, rejection, startInteropServer, uniqueName } from './helpers.js'

/*
 * The authorization-code flow with PKCE driven by oauth4webapi (https://github.com/panva/oauth4webapi)
 * as the client, against the real server in a process of its own: discovery, the authorization URL
 * it builds, the login page submitted by a plain HTTP client (fetch, no redirects followed), the
 * redirect validated by oauth4webapi (state, iss: RFC 9207), the code exchanged with the verifier.
 */

const CLIENT_ID = 'native-app'
// A native app's loopback redirect (RFC 8252 §7.3): nothing listens there; the test reads the Location.
const REDIRECT_URI = 'http://127.0.0.1/callback'
const client: oauth.Client = { client_id: CLIENT_ID }
const clientAuth = oauth.None()
const http = () => ({ [oauth.allowInsecureRequests]: true, signal: AbortSignal.timeout(10_000) })

async function start (t: import('node:test').TestContext) {
  const file = clientsFile([{ client_id: CLIENT_ID, public: true, first_party: true, redirect_uris: [REDIRECT_URI] }])
  const { base } = await startInteropServer(t, { OAUTH_CLIENTS_FILE: file })
  const issuer = new URL(base)
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http(), algorithm: 'oauth2' }))
  return { base, as }
}

/** What a browser does with the authorization URL: the login page, then its form; the redirect's URL. */
async function browserLogin (base: string, authorizationUrl: URL, username: string, password = PASSWORD): Promise<URL> {
  const page = await fetch(authorizationUrl, { redirect: 'manual', signal: AbortSignal.timeout(10_000) })
  const html = await page.text()
  assert.equal(page.status, 200, html)
  const cookie = page.headers.getSetCookie().map(c => c.split(';')[0]).join('; ')
  const request = /name="request" value="([^"]+)"/.exec(html)?.[1]
  assert.ok(request !== undefined, 'the login page carries its request id')
  const posted = await fetch(new URL('/authorize', base), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: base },
    body: new URLSearchParams({ request, username, password }),
    signal: AbortSignal.timeout(10_000)
  })
  assert.equal(posted.status, 303, await posted.text())
  return new URL(posted.headers.get('location')!)
}

/** The authorization URL oauth4webapi's values make (RFC 6749 §4.1.1, RFC 7636 §4.3). */
function authorizationUrlOf (as: oauth.AuthorizationServer, params: Record<string, string>) {
  const url = new URL(as.authorization_endpoint!)
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  return url
}

describe('oauth4webapi: authorization code with PKCE', () => {
  it('discovers the authorization endpoint, code and S256', async (t) => {
    const { base, as } = await start(t)
    assert.equal(as.authorization_endpoint, `${base}/authorize`)
    assert.deepEqual(as.response_types_supported, ['code'])
    assert.deepEqual(as.code_challenge_methods_supported, ['S256'])
    assert.equal(as.authorization_response_iss_parameter_supported, true)
    assert.ok(as.grant_types_supported?.includes('authorization_code'))
  })

  it('runs the whole flow: authorization URL, login page, redirect (state, iss checked), code exchange, resource; a reused code ends the session', async (t) => {
    const { base, as } = await start(t)
    const username = uniqueName('o4wcode')
    const user = await registerUser(base, username)
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = authorizationUrlOf(as, {
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'me items',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256'
    })

    const redirect = await browserLogin(base, url, username)
    assert.equal(`${redirect.origin}${redirect.pathname}`, REDIRECT_URI)
    assert.equal(redirect.searchParams.get('iss'), base)
    // oauth4webapi checks iss against the discovered issuer and state against ours.
    const params = oauth.validateAuthResponse(as, client, redirect, state)
    assert.throws(() => oauth.validateAuthResponse(as, client, redirect, 'another state'))

    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, verifier, http())
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response)
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.scope, 'me items')
    const claims = decodeJwt(tokens.access_token)
    assert.equal(claims.sub, user.id)
    assert.equal(claims.client_id, CLIENT_ID)
    const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL('/users/me', base), undefined, undefined, http())
    assert.equal(me.status, 200)

    // The same code again: invalid_grant, and the tokens of its first use are revoked.
    const again = await rejection(oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, verifier, http())
      .then(async res => await oauth.processAuthorizationCodeResponse(as, client, res)))
    assert.ok(again instanceof oauth.ResponseBodyError, String(again))
    assert.equal(again.error, 'invalid_grant')
    const revoked = await rejection(oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL('/users/me', base), undefined, undefined, http()))
    assert.ok(revoked instanceof oauth.WWWAuthenticateChallengeError, String(revoked))
    assert.equal(revoked.status, 401)
  })

  it('a code stolen without the verifier is worth nothing', async (t) => {
    const { base, as } = await start(t)
    const username = uniqueName('o4wsteal')
    await registerUser(base, username)
    const verifier = oauth.generateRandomCodeVerifier()
    const url = authorizationUrlOf(as, {
      response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 's', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256'
    })
    const params = oauth.validateAuthResponse(as, client, await browserLogin(base, url, username), 's')
    const thief = await rejection(oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, oauth.generateRandomCodeVerifier(), http())
      .then(async res => await oauth.processAuthorizationCodeResponse(as, client, res)))
    assert.ok(thief instanceof oauth.ResponseBodyError, String(thief))
    assert.equal(thief.error, 'invalid_grant')
  })

  it('an error redirect (plain refused) carries state and iss, and oauth4webapi reads it as an authorization error', async (t) => {
    const { base, as } = await start(t)
    const verifier = oauth.generateRandomCodeVerifier()
    const url = authorizationUrlOf(as, { response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 'st', code_challenge: verifier, code_challenge_method: 'plain' })
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 303)
    const error = await rejection((async () => oauth.validateAuthResponse(as, client, new URL(res.headers.get('location')!), 'st'))())
    assert.ok(error instanceof oauth.AuthorizationResponseError, String(error))
    assert.equal(error.error, 'invalid_request')
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('iss'), base)
  })
})
