import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import * as OTPAuth from 'otpauth'
import { ResourceOwnerPassword } from 'simple-oauth2'
import { call, postJson, registerAndLogin } from '../http-client.js'
import { PASSWORD, startInteropServer, uniqueName } from './helpers.js'

/*
 * Two-factor authentication with clients we did not write (issue 21), against the real server in
 * a process of its own: enrolment over HTTP as an app's settings page would do it, the otpauth URI
 * parsed back by a TOTP library (otpauth) as an authenticator app reads the QR code, then Auth0's
 * password-grant flow (403 mfa_required + mfa_token, then the mfa-otp grant) through oauth4webapi's
 * generic token endpoint request, and the `otp` form parameter through simple-oauth2's password grant.
 */

const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'
const MFA_RECOVERY = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'
const client: oauth.Client = { client_id: 'mobile-app' }
const http = () => ({ [oauth.allowInsecureRequests]: true, signal: AbortSignal.timeout(10_000) })

/** Enrols TOTP for a new user over HTTP: the user's name, the TOTP an authenticator app would hold, the recovery codes. */
async function enrolOverHttp (base: string) {
  const username = uniqueName('mfa')
  const { tokens } = await registerAndLogin(base, username)
  const auth = { authorization: `Bearer ${tokens.access_token}` }
  const start = await postJson(base, '/users/me/mfa/totp', { password: PASSWORD }, auth)
  assert.equal(start.status, 200, start.text)
  // The authenticator app's view: only the URI (the QR code's content).
  const totp = OTPAuth.URI.parse(start.body.otpauth_uri as string)
  assert.ok(totp instanceof OTPAuth.TOTP)
  assert.equal(totp.algorithm, 'SHA1')
  assert.equal(totp.digits, 6)
  assert.equal(totp.period, 30)
  assert.equal(totp.issuer, '127.0.0.1')
  assert.equal(totp.label, username)
  const confirm = await postJson(base, '/users/me/mfa/totp/confirm', { code: totp.generate({ timestamp: Date.now() - 30_000 }) }, auth)
  assert.equal(confirm.status, 200, confirm.text)
  const status = await call(base, '/users/me/mfa', { headers: auth })
  assert.deepEqual(status.body, { totp: 'on', recovery_codes_left: 10 })
  return { username, totp, recoveryCodes: confirm.body.recovery_codes as string[] }
}

describe('two-factor authentication with third-party clients', () => {
  it('oauth4webapi: discovery lists the Auth0 grants; password → mfa_required → mfa-otp and mfa-recovery-code grants', async (t) => {
    const { base } = await startInteropServer(t)
    const { username, totp, recoveryCodes } = await enrolOverHttp(base)
    const issuer = new URL(base)
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http(), algorithm: 'oauth2' }))
    assert.ok(as.grant_types_supported?.includes(MFA_OTP))
    assert.ok(as.grant_types_supported?.includes(MFA_RECOVERY))

    const passwordStep = async () => {
      const response = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), 'password', { username, password: PASSWORD, scope: 'me' }, http())
      try {
        await oauth.processGenericTokenEndpointResponse(as, client, response)
      } catch (error) {
        assert.ok(error instanceof oauth.ResponseBodyError, String(error))
        assert.equal(error.status, 403)
        assert.equal(error.error, 'mfa_required')
        const mfaToken = (error.cause as { mfa_token?: unknown }).mfa_token
        assert.equal(typeof mfaToken, 'string')
        return mfaToken as string
      }
      assert.fail('the password alone gave tokens')
    }

    const otpResponse = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), MFA_OTP, { mfa_token: await passwordStep(), otp: totp.generate() }, http())
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, otpResponse)
    assert.equal(tokens.token_type, 'bearer')
    assert.equal(tokens.scope, 'me')
    const claims = decodeJwt(tokens.access_token)
    assert.deepEqual(claims.amr, ['pwd', 'otp'])
    assert.equal(claims.client_id, 'mobile-app')
    const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL('/users/me', base), undefined, undefined, http())
    assert.equal(((await me.json()) as { mfa_enabled: boolean }).mfa_enabled, true)

    // A lost phone: a recovery code instead.
    const recovery = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), MFA_RECOVERY, { mfa_token: await passwordStep(), recovery_code: recoveryCodes[0]! }, http())
    const recovered = await oauth.processGenericTokenEndpointResponse(as, client, recovery)
    assert.deepEqual(decodeJwt(recovered.access_token).amr, ['pwd', 'otp'])

    // The same code again: the one invalid_grant.
    const again = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), MFA_RECOVERY, { mfa_token: await passwordStep(), recovery_code: recoveryCodes[0]! }, http())
    await assert.rejects(oauth.processGenericTokenEndpointResponse(as, client, again), (error: unknown) =>
      error instanceof oauth.ResponseBodyError && error.status === 400 && error.error === 'invalid_grant')
  })

  it('simple-oauth2: the password grant with otp gives the tokens at once; without it the 403 says mfa_required', async (t) => {
    const { base } = await startInteropServer(t)
    const { username, totp } = await enrolOverHttp(base)
    const config = { client: { id: 'script', secret: '' }, auth: { tokenHost: base, tokenPath: '/token' }, http: { timeout: 10_000 } }
    const owner = new ResourceOwnerPassword(config)
    await assert.rejects(owner.getToken({ username, password: PASSWORD, scope: 'me items' }), (error: { output?: { statusCode?: number }, data?: { payload?: { error?: string, mfa_token?: string } } }) => {
      assert.equal(error.output?.statusCode, 403)
      assert.equal(error.data?.payload?.error, 'mfa_required')
      assert.equal(typeof error.data?.payload?.mfa_token, 'string')
      return true
    })
    const token = await owner.getToken({ username, password: PASSWORD, scope: 'me items', otp: totp.generate() })
    assert.deepEqual(decodeJwt(token.token.access_token as string).amr, ['pwd', 'otp'])
  })
})
