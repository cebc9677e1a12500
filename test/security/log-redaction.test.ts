import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import app, { fastifyOptions } from '../../src/app.js'
import { redactedUrl } from '../../src/http/request-log.js'
import { bearer, isolatedTestConfig, registerAndLogin } from '../helper.js'

/*
 * Credentials never reach the request log (ASVS 16.2.5): headers (Authorization, Cookie,
 * Set-Cookie) are redacted by pino, and so are the credentials some URLs carry: an e-mail link's
 * `token`, a provider's `code` and `state` at the social login's callback.
 */

describe('the request log', () => {
  it('redacts credential parameters of a URL, keeping the path, the other parameters and their order', () => {
    assert.equal(redactedUrl('/reset-password?token=secret'), '/reset-password?token=[redacted]')
    assert.equal(redactedUrl('/login/oidc/callback?code=c0de&state=st4te&iss=https%3A%2F%2Fidp'), '/login/oidc/callback?code=[redacted]&state=[redacted]&iss=https%3A%2F%2Fidp')
    assert.equal(redactedUrl('/x?a=1&%74oken=t&b'), '/x?a=1&%74oken=[redacted]&b', 'an encoded name')
    assert.equal(redactedUrl('/x?access_token=a&refresh_token=r&mfa_token=m&client_secret=s'), '/x?access_token=[redacted]&refresh_token=[redacted]&mfa_token=[redacted]&client_secret=[redacted]')
    assert.equal(redactedUrl('/users/me'), '/users/me')
    assert.equal(redactedUrl('/x?%E0%A4%A=1&token'), '/x?%E0%A4%A=1&token', 'a malformed name, a name without a value')
  })

  it('never shows an e-mail link\'s token, a provider\'s code and state, or a bearer token in the lines it writes', async (t) => {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const config = await isolatedTestConfig({ LOG_LEVEL: 'info' })
    const server = Fastify({ ...fastifyOptions(config), logger: { ...(fastifyOptions(config).logger as object), stream } })
    t.after(() => server.close())
    await server.register(app, { config })
    const { tokens } = await registerAndLogin(server)
    const secrets = ['Tok3nOfTheEmailLink0123456789abcdefghijklmn', 'Pr0viderCode0123456789', 'Pr0viderState0123456789']
    await server.inject({ url: `/reset-password?token=${secrets[0]}` })
    await server.inject({ url: `/verify?token=${secrets[0]}` })
    await server.inject({ url: `/login/oidc/callback?code=${secrets[1]}&state=${secrets[2]}` })
    await server.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    // Mistyped links reach no route: the 404 is logged (and answered) with the URL redacted too.
    for (const url of [`/reset-password/?token=${secrets[0]}`, `/LOGIN/oidc/callback?code=${secrets[1]}&state=${secrets[2]}`]) {
      const missing = await server.inject({ url })
      assert.equal(missing.statusCode, 404)
      assert.ok(!missing.body.includes(secrets[0]!) && !missing.body.includes(secrets[1]!), missing.body)
    }
    const log = lines.join('')
    assert.match(log, /"msg":"route not found"/)
    assert.match(log, /"url":"\/reset-password\?token=\[redacted\]"/, 'the requests are logged')
    assert.match(log, /"url":"\/login\/oidc\/callback\?code=\[redacted\]&state=\[redacted\]"/)
    for (const secret of [...secrets, tokens.access_token, tokens.refresh_token]) assert.ok(!log.includes(secret), `${secret.slice(0, 12)}… is not in the log`)
  })
})
