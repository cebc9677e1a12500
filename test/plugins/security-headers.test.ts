import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, loadConfig } from '../../src/config.js'
import { build } from '../helper.js'

describe('security headers and CORS', () => {
  it('puts helmet\'s headers and the CSP on every answer, errors and /docs included', async (t) => {
    const app = await build(t)
    for (const url of ['/health', '/users/me', '/no-such-route', '/docs/']) {
      const res = await app.inject({ url })
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'.*script-src 'self';.*frame-ancestors 'none'/, url)
      assert.equal(res.headers['x-content-type-options'], 'nosniff', url)
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
      assert.equal(res.headers['referrer-policy'], 'no-referrer', url)
      assert.equal(res.headers['x-powered-by'], undefined, url)
    }
  })

  it('answers no CORS headers without CORS_ORIGINS', async (t) => {
    const app = await build(t)
    const res = await app.inject({ method: 'OPTIONS', url: '/token', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
    assert.equal(res.headers['access-control-allow-origin'], undefined)
  })

  it('allows exactly the origins CORS_ORIGINS lists', async (t) => {
    const app = await build(t, { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com/' })
    const preflight = (origin: string) => app.inject({ method: 'OPTIONS', url: '/users/me', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
    for (const origin of ['https://app.example.com', 'https://admin.example.com']) {
      const res = await preflight(origin)
      assert.equal(res.statusCode, 204)
      assert.equal(res.headers['access-control-allow-origin'], origin)
      assert.match(String(res.headers['access-control-allow-headers']), /authorization/)
    }
    assert.equal((await preflight('https://evil.example.com')).headers['access-control-allow-origin'], undefined)
    const simple = await app.inject({ url: '/health', headers: { origin: 'https://app.example.com' } })
    assert.equal(simple.headers['access-control-allow-origin'], 'https://app.example.com')
  })

  it('refuses a CORS_ORIGINS that is not a list of origins, naming it', () => {
    assert.throws(() => loadConfig({ CORS_ORIGINS: '*' }), (error: Error) => error instanceof ConfigError && /CORS_ORIGINS/.test(error.message))
  })
})
