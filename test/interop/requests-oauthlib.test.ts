import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { PASSWORD } from '../helper.js'
import { registerUser } from '../http-client.js'
import { describeRun, INTEROP_DIR, run, startInteropServer, uniqueName } from './helpers.js'

/*
 * Python's requests-oauthlib (OAuth2Session with oauthlib's LegacyApplicationClient, the
 * password grant) against the real server: test/interop/requests_oauthlib_client.py does the
 * OAuth2 calls and prints what the library returned; this file asserts it.
 */

// Debian's python3-requests-oauthlib lives in the system Python, not in a pyenv/venv one first on PATH.
const PYTHON = '/usr/bin/python3'
const SCRIPT = join(INTEROP_DIR, 'requests_oauthlib_client.py')
const CLIENT_ID = 'python-cli'

interface OAuthErrorSeen { type: string, error: string, description: string | null, status_code: number }
interface ResourceSeen { status: number, www_authenticate: string | null, authorization_sent: string | null, body: any }
interface TokenSeen { access_token: string, refresh_token: string, token_type: string, expires_in: number, expires_at: number, scope: string[] }
interface ScriptOutput {
  wrong_password: OAuthErrorSeen | null
  token: TokenSeen
  refreshed: TokenSeen
  session_token_after_refresh: TokenSeen
  me: ResourceSeen
  replay: Record<string, unknown>
  successor_used: Record<string, unknown>
  reuse: OAuthErrorSeen | null
  me_after_reuse: ResourceSeen
}

async function requestsOauthlibMissing (): Promise<string | undefined> {
  const probe = await run(PYTHON, ['-c', 'import requests_oauthlib'], { timeoutMs: 30_000 })
  return probe.code === 0 ? undefined : describeRun(probe)
}

describe('requests-oauthlib (Python) OAuth2Session with LegacyApplicationClient', () => {
  it('fetches a token with the password grant, refreshes it, calls /users/me, and sees reuse detection', async (t) => {
    const missing = await requestsOauthlibMissing()
    if (missing !== undefined) {
      t.diagnostic(missing)
      t.skip('python3-requests-oauthlib not installed: .ci/run installs it')
      return
    }
    const { base } = await startInteropServer(t)
    const username = uniqueName('py')
    const user = await registerUser(base, username)

    const started = Date.now() / 1000
    const result = await run(PYTHON, [SCRIPT], {
      timeoutMs: 60_000,
      env: {
        ...process.env,
        INTEROP_BASE: base,
        INTEROP_USERNAME: username,
        INTEROP_PASSWORD: PASSWORD,
        INTEROP_CLIENT_ID: CLIENT_ID,
        // oauthlib refuses http:// token URLs unless told; this server is plain HTTP on the loopback.
        OAUTHLIB_INSECURE_TRANSPORT: '1',
        PYTHONDONTWRITEBYTECODE: '1'
      }
    })
    assert.equal(result.code, 0, describeRun(result))
    const out = JSON.parse(result.stdout) as ScriptOutput

    // A wrong password: oauthlib raised the error the server's RFC 6749 §5.2 body names.
    assert.ok(out.wrong_password, 'fetch_token with a wrong password raised')
    assert.equal(out.wrong_password.type, 'InvalidGrantError')
    assert.equal(out.wrong_password.error, 'invalid_grant')
    assert.equal(out.wrong_password.status_code, 400)

    // The password grant: oauthlib parsed and validated the token response.
    const { token } = out
    assert.equal(token.token_type.toLowerCase(), 'bearer')
    assert.deepEqual(token.scope, ['me'], 'the narrowed scope came back (oauthlib raises "Scope has changed" otherwise)')
    assert.equal(typeof token.access_token, 'string')
    assert.equal(typeof token.refresh_token, 'string')
    assert.ok(token.expires_in > 0)
    assert.ok(Math.abs(token.expires_at - (started + token.expires_in)) < 30, `expires_at ${token.expires_at}`)
    const claims = decodeJwt(token.access_token)
    assert.equal(claims.sub, user.id)
    assert.equal(claims.client_id, CLIENT_ID, 'the client id requests-oauthlib sent (HTTP Basic, empty secret) is the token\'s')
    assert.equal(claims.scope, 'me')

    // The refresh grant: a new pair for the same session, and the session now holds it.
    const { refreshed } = out
    assert.notEqual(refreshed.access_token, token.access_token)
    assert.notEqual(refreshed.refresh_token, token.refresh_token, 'refresh tokens rotate')
    assert.deepEqual(refreshed.scope, ['me'])
    assert.equal(out.session_token_after_refresh.access_token, refreshed.access_token)
    const refreshedClaims = decodeJwt(refreshed.access_token)
    assert.equal(refreshedClaims.sid, claims.sid)
    assert.equal(refreshedClaims.client_id, CLIENT_ID)

    // /users/me with the session: sent the refreshed token, got the user.
    assert.equal(out.me.authorization_sent, `Bearer ${refreshed.access_token}`)
    assert.equal(out.me.status, 200, JSON.stringify(out.me))
    assert.equal(out.me.body.id, user.id)
    assert.equal(out.me.body.username, username)

    // The spent refresh token again: invalid_grant for oauthlib, and the session is over.
    // Within the reuse interval the spent token got the same successor again.
    assert.equal(out.replay.refresh_token, out.refreshed.refresh_token)
    assert.notEqual(out.replay.access_token, out.refreshed.access_token)
    assert.notEqual(out.successor_used.refresh_token, out.refreshed.refresh_token)
    assert.ok(out.reuse, 'refreshing with the spent refresh token raised')
    assert.equal(out.reuse.type, 'InvalidGrantError')
    assert.equal(out.reuse.error, 'invalid_grant')
    assert.equal(out.me_after_reuse.status, 401, JSON.stringify(out.me_after_reuse))
    assert.match(out.me_after_reuse.www_authenticate ?? '', /^Bearer\b.*error="invalid_token"/)
  })
})
