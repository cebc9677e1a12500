import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, FORM, form, PASSWORD, registerUser, uniqueName, assertHttpError as assertHttpErrorShape, storeOf } from '../helper.js'

const userCount = async (app: FastifyInstance) => (await storeOf(app).users.list(100, 0)).total

/** No server error and nothing of the server's insides: no stack, no frames, no file paths. */
function assertNoLeak (res: LightMyRequestResponse) {
  assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`)
  assert.equal(/stack/i.test(res.body), false, res.body)
  assert.equal(/\bat .*\(?\S+:\d+:\d+\)?/.test(res.body), false, res.body)
  assert.equal(/node_modules|\/work\/|file:\/\//.test(res.body), false, res.body)
}

/** Fastify's error body, exactly {statusCode, error, message}, with this status. */
function assertHttpError (res: LightMyRequestResponse, status: number, error: string) {
  assertNoLeak(res)
  assertHttpErrorShape(res, status, error)
}

const postRegister = (app: FastifyInstance, contentType: string, payload: string) =>
  app.inject({ method: 'POST', url: '/register', headers: { 'content-type': contentType }, payload })

describe('input hardening', () => {
  describe('body size', () => {
    it('answers 413 for a JSON body over 1 MiB at /register', async (t) => {
      const app = await build(t)
      const payload = JSON.stringify({ username: uniqueName('big'), password: PASSWORD, full_name: 'x'.repeat(1024 * 1024) })
      const res = await postRegister(app, 'application/json', payload)
      assertHttpError(res, 413, 'Payload Too Large')
      assert.equal(await userCount(app), 0)
    })

    it('answers 413 for a form body over 1 MiB at /token', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const payload = form({ username: user.username, password: PASSWORD, padding: 'x'.repeat(1024 * 1024) })
      const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload })
      assertNoLeak(res)
      assert.equal(res.statusCode, 413, res.body)
      assert.equal(res.body.includes('access_token'), false)
      assert.equal(res.headers['cache-control'], 'no-store')
    })

    it('leaves a body just under the limit to the schema (400, not 413)', async (t) => {
      const app = await build(t)
      // a large but valid-sized body is refused by the schema (400), not by the size limit
      const payload = JSON.stringify({ username: uniqueName('near'), password: PASSWORD, full_name: 'x'.repeat(1000 * 1000) })
      assertHttpError(await postRegister(app, 'application/json', payload), 400, 'Bad Request')
    })
  })

  describe('prototype poisoning', () => {
    const cases: Array<[string, string]> = [
      ['__proto__', `{"username":"${uniqueName('proto')}","password":"${PASSWORD}","__proto__":{"is_admin":true}}`],
      ['nested __proto__', `{"username":"${uniqueName('proto')}","password":"${PASSWORD}","full_name":{"__proto__":{"is_admin":true}}}`],
      ['constructor.prototype', `{"username":"${uniqueName('ctor')}","password":"${PASSWORD}","constructor":{"prototype":{"is_admin":true}}}`]
    ]
    for (const [label, payload] of cases) {
      it(`answers 400 for a JSON body with ${label} and stores nothing`, async (t) => {
        const app = await build(t)
        const res = await postRegister(app, 'application/json', payload)
        assertHttpError(res, 400, 'Bad Request')
        assert.equal(await userCount(app), 0)
        assert.equal(({} as Record<string, unknown>).is_admin, undefined)
        assert.equal(Object.hasOwn(Object.prototype, 'is_admin'), false)
      })
    }

    it('does not pollute prototypes through form parameters at /token', async (t) => {
      const app = await build(t)
      const { user } = await registerUser(app)
      const payload = `__proto__[is_admin]=1&__proto__=x&constructor[prototype][is_admin]=1&username=${user.username}&password=${encodeURIComponent(PASSWORD)}`
      const res = await app.inject({ method: 'POST', url: '/token', headers: FORM, payload })
      assertNoLeak(res)
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().scope, 'me items')
      assert.equal(({} as Record<string, unknown>).is_admin, undefined)
    })
  })

  describe('content types', () => {
    // a body the schema refuses twice over: no password, and an is_admin it must not take
    const invalidBody = () => JSON.stringify({ username: uniqueName('ct'), is_admin: true })

    const variants = [
      'Application/JSON',
      'APPLICATION/JSON; charset=UTF-8',
      'Application/JSON ;charset=utf-8',
      'application/json ; charset=utf-8',
      'application/json;charset=utf-8',
      'application/json;',
      'application/JSON; charset="utf-8"'
    ]
    it('validates JSON against the schema whatever the media type\'s casing and spacing (CVE-2025-32442)', async (t) => {
      const app = await build(t)
      for (const contentType of variants) {
        const res = await postRegister(app, contentType, invalidBody())
        assertHttpError(res, 400, 'Bad Request')
      }
      assert.equal(await userCount(app), 0)
    })

    it('still accepts a valid body with those media types', async (t) => {
      const app = await build(t)
      const res = await postRegister(app, 'Application/JSON ;charset=utf-8', JSON.stringify({ username: uniqueName('ok'), password: PASSWORD }))
      assert.equal(res.statusCode, 201, res.body)
    })

    const malformed = [
      'application/json\tx',
      'application/json\t',
      'application/json garbage',
      'application/json x; charset=utf-8',
      'application/jsonx',
      'application/json, text/plain',
      'application/json/x'
    ]
    for (const contentType of malformed) {
      it(`does not read ${JSON.stringify(contentType)} as JSON without the schema (CVE-2026-25223, CVE-2026-3419)`, async (t) => {
        const app = await build(t)
        // schema-invalid (an '@' and is_admin), yet a handler run without validation would store an admin
        const username = 'by@pass.example'
        const res = await postRegister(app, contentType, JSON.stringify({ username, password: 'a-fine-password-123', is_admin: true }))
        assertNoLeak(res)
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`)
        assert.equal(await userCount(app), 0)
        assert.equal(await storeOf(app).users.findByLogin(username), undefined)
      })
    }

    it('answers 415 for a media type /register does not read', async (t) => {
      const app = await build(t)
      const payload = JSON.stringify({ username: uniqueName('mt'), password: PASSWORD })
      for (const contentType of ['application/xml', 'application/octet-stream', 'multipart/form-data; boundary=x', 'text/json', 'application/vnd.api+json', 'image/png']) {
        assertHttpError(await postRegister(app, contentType, payload), 415, 'Unsupported Media Type')
      }
      assert.equal(await userCount(app), 0)
    })

    it('takes JSON only at /register: a form body is 415', async (t) => {
      const app = await build(t)
      const username = uniqueName('formreg')
      const res = await postRegister(app, 'application/x-www-form-urlencoded', form({ username, password: PASSWORD }))
      assertHttpError(res, 415, 'Unsupported Media Type')
      assert.equal(await storeOf(app).users.findByLogin(username), undefined)
    })

    it('answers 400 for text/plain at /register and stores nothing', async (t) => {
      const app = await build(t)
      const res = await postRegister(app, 'text/plain', JSON.stringify({ username: uniqueName('txt'), password: PASSWORD }))
      assertHttpError(res, 400, 'Bad Request')
      assert.equal(await userCount(app), 0)
    })
  })

  describe('methods and routes', () => {
    const requests: Array<[string, string]> = [
      ['PUT', '/register'],
      ['PATCH', '/register'],
      ['GET', '/register'],
      ['DELETE', '/token'],
      ['GET', '/token'],
      ['PUT', '/token'],
      ['TRACE', '/token'],
      ['GET', '/token/revoke'],
      ['GET', '/logout']
    ]
    it('answers 404 in Fastify\'s shape for methods a route does not support', async (t) => {
      const app = await build(t)
      for (const [method, url] of requests) {
        const res = await app.inject({ method: method as 'GET', url, headers: FORM, payload: method === 'GET' || method === 'TRACE' ? undefined : form({ username: 'x', password: PASSWORD }) })
        assertHttpError(res, 404, 'Not Found')
        assert.equal(res.json().message, `Route ${method}:${url} not found`)
      }
      assert.equal(await userCount(app), 0)
    })

    it('answers 404 in Fastify\'s shape for unknown routes', async (t) => {
      const app = await build(t)
      for (const url of ['/nope', '/register/extra', '/token/', '/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/users/me/../../admin', '/%00', '/a?b=%ff']) {
        const res = await app.inject({ method: 'GET', url })
        assertNoLeak(res)
        assert.equal(res.statusCode, 404, `${url}: ${res.body}`)
        assertHttpError(res, 404, 'Not Found')
      }
    })
  })

  describe('no server errors for bad input', () => {
    it('answers 4xx without a stack for odd bodies at /register and /token', async (t) => {
      const app = await build(t)
      const requests: Array<{ url: string, contentType: string, payload: string }> = [
        { url: '/register', contentType: 'application/json', payload: '{"username":' + '['.repeat(5000) + ']'.repeat(5000) + '}' },
        { url: '/register', contentType: 'application/json', payload: '\u0000\u0001\u0002' },
        { url: '/register', contentType: 'application/json', payload: '{"username":"a\\ud800b","password":"x\\udfffyyyyyyy"}' },
        { url: '/register', contentType: 'application/json', payload: JSON.stringify({ username: uniqueName('deep'), password: PASSWORD, email: { $gt: '' } }) },
        { url: '/register', contentType: 'application/json; charset=latin1', payload: '{"username":"x"}' },
        { url: '/token', contentType: 'application/x-www-form-urlencoded', payload: 'username=%ff%fe&password=%c3%28aaaaaaaa' },
        { url: '/token', contentType: 'application/x-www-form-urlencoded', payload: 'username[]=a&password[x]=b' },
        { url: '/token', contentType: 'application/x-www-form-urlencoded', payload: '&&&===&&&' },
        { url: '/token', contentType: 'application/x-www-form-urlencoded', payload: 'a='.repeat(20000) },
        { url: '/token', contentType: 'application/json', payload: '{"__proto__":{"x":1}}' },
        { url: '/token', contentType: 'application/json', payload: '{not json' },
        { url: '/token/revoke', contentType: 'application/x-www-form-urlencoded', payload: 'token=a&token=b' }
      ]
      for (const { url, contentType, payload } of requests) {
        const res = await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload })
        assertNoLeak(res)
        assert.ok(res.statusCode >= 400, `${url} ${contentType} ${payload.slice(0, 40)}: ${res.statusCode} ${res.body}`)
      }
      assert.equal(await userCount(app), 0)
    })
  })
})
