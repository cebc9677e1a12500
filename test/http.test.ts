import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import Fastify from 'fastify'
import app, { fastifyOptions } from '../src/app.js'
import { PASSWORD, testConfig, uniqueName } from './helper.js'

/* What a client sees over a real socket: headers as sent on the wire, the body limit. */

async function listening (t: TestContext) {
  const config = testConfig()
  const server = Fastify(fastifyOptions(config))
  await server.register(app, { config })
  await server.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => server.close())
  const { port } = server.server.address() as { port: number }
  return { server, base: `http://127.0.0.1:${port}` }
}

async function registerAndLogin (base: string) {
  const username = uniqueName('http')
  const registered = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD })
  })
  assert.equal(registered.status, 201)
  // A URLSearchParams body: fetch sends application/x-www-form-urlencoded;charset=UTF-8 itself.
  const token = await fetch(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }) })
  return { username, user: await registered.json() as Record<string, unknown>, token }
}

describe('over HTTP', () => {
  it('registers with JSON, logs in with a form and reads /users/me as JSON with a charset', async (t) => {
    const { base } = await listening(t)
    const { user, token } = await registerAndLogin(base)
    assert.equal(token.status, 200)
    const tokens = await token.json() as { access_token: string, token_type: string }
    assert.equal(tokens.token_type, 'bearer')

    const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    assert.equal(me.status, 200)
    assert.equal(me.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(await me.json(), user)
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
    const res = await fetch(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'nobody', password: 'wrong password' }) })
    assert.equal(res.status, 400)
    assert.equal(res.headers.get('cache-control'), 'no-store')
    assert.equal(res.headers.get('pragma'), 'no-cache')
    assert.equal((await res.json() as { error: string }).error, 'invalid_grant')
  })

  it('sends the bare Bearer challenge without a token and invalid_token with a bad one', async (t) => {
    const { base } = await listening(t)
    const none = await fetch(`${base}/users/me`)
    assert.equal(none.status, 401)
    assert.equal(none.headers.get('www-authenticate'), 'Bearer')
    assert.equal(none.headers.get('content-type'), 'application/json; charset=utf-8')
    const body = await none.json() as Record<string, unknown>
    assert.equal(body.statusCode, 401)
    assert.equal(body.error, 'Unauthorized')

    const bad = await fetch(`${base}/users/me`, { headers: { authorization: 'Bearer not.a.jwt' } })
    assert.equal(bad.status, 401)
    assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  })

  it('answers GET /health with {status: "ok"}', async (t) => {
    const { base } = await listening(t)
    const res = await fetch(`${base}/health`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(await res.json(), { status: 'ok' })
  })

  it('answers 413 to a JSON body over 1 MiB and keeps serving', async (t) => {
    const { base } = await listening(t)
    const body = JSON.stringify({ username: uniqueName('huge'), password: 'x'.repeat(2 * 1024 * 1024) })
    const res = await fetch(`${base}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    assert.equal(res.status, 413)
    const error = await res.json() as Record<string, unknown>
    assert.equal(error.statusCode, 413)
    assert.equal(typeof error.message, 'string')

    const health = await fetch(`${base}/health`)
    assert.equal(health.status, 200)
    assert.deepEqual(await health.json(), { status: 'ok' })
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
    assert.equal((await fetch(`${base}/health`)).status, 200)
  })
})
