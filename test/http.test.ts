import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { listening, PASSWORD, uniqueName } from './helper.js'
import { call, postJson, registerUser } from './http-client.js'

/* What a client sees over a real socket: headers as sent on the wire, the body limit. */

async function registerAndLogin (base: string) {
  const username = uniqueName('http')
  const user = await registerUser(base, username)
  // A URLSearchParams body: fetch sends application/x-www-form-urlencoded;charset=UTF-8 itself.
  const token = await call(base, '/token', { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }) })
  return { username, user, token }
}

describe('over HTTP', () => {
  it('registers with JSON, logs in with a form and reads /users/me as JSON with a charset', async (t) => {
    const { base } = await listening(t)
    const { user, token } = await registerAndLogin(base)
    assert.equal(token.status, 200)
    const tokens = token.body as { access_token: string, token_type: string }
    assert.equal(tokens.token_type, 'bearer')

    const me = await call(base, '/users/me', { headers: { authorization: `Bearer ${tokens.access_token}` } })
    assert.equal(me.status, 200)
    assert.equal(me.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(me.body, user)
  })

  it('sends Cache-Control: no-store and Pragma: no-cache with the token response', async (t) => {
    const { base } = await listening(t)
    const { token } = await registerAndLogin(base)
    assert.equal(token.status, 200)
    assert.equal(token.headers.get('cache-control'), 'no-store')
    assert.equal(token.headers.get('pragma'), 'no-cache')
    assert.match(String(token.headers.get('content-type')), /^application\/json; charset=utf-8$/i)
  })

  it('sends Cache-Control: no-store and Pragma: no-cache with a token error', async (t) => {
    const { base } = await listening(t)
    const res = await call(base, '/token', { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'nobody', password: 'wrong password' }) })
    assert.equal(res.status, 400)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('pragma'), 'no-cache')
    assert.equal(res.body.error, 'invalid_grant')
  })

  it('sends the bare Bearer challenge without a token and invalid_token with a bad one', async (t) => {
    const { base } = await listening(t)
    const none = await call(base, '/users/me')
    assert.equal(none.status, 401)
    assert.equal(none.headers.get('www-authenticate'), 'Bearer')
    assert.equal(none.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(none.body.statusCode, 401)
    assert.equal(none.body.error, 'Unauthorized')

    const bad = await call(base, '/users/me', { headers: { authorization: 'Bearer not.a.jwt' } })
    assert.equal(bad.status, 401)
    assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  })

  it('answers GET /health with {status: "ok"}', async (t) => {
    const { base } = await listening(t)
    const res = await call(base, '/health')
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(res.body, { status: 'ok' })
  })

  it('answers 413 to a JSON body over 1 MiB and keeps serving', async (t) => {
    const { base } = await listening(t)
    const res = await postJson(base, '/register', { username: uniqueName('huge'), password: 'x'.repeat(2 * 1024 * 1024) })
    assert.equal(res.status, 413)
    assert.equal(res.body.statusCode, 413)
    assert.equal(typeof res.body.message, 'string')

    const health = await call(base, '/health')
    assert.equal(health.status, 200)
    assert.deepEqual(health.body, { status: 'ok' })
  })

  it('answers 413 to a chunked JSON body over 1 MiB (no Content-Length) and keeps serving', async (t) => {
    const { base } = await listening(t)
    const url = new URL(`${base}/register`)
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, res => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      // The server may stop reading once it has answered.
      req.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error) })
      req.write('{"username":"chunked","password":"')
      const chunk = 'x'.repeat(64 * 1024)
      for (let i = 0; i < 24; i++) req.write(chunk)
      req.end('"}')
    })
    assert.equal(status, 413)
    assert.equal((await call(base, '/health')).status, 200)
  })
})
