import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createApp } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { assertConfigRefused, testConfig } from '../helper.js'
import { newSecret } from './receiver.js'

describe('AUDIT_RETENTION_DAYS and WEBHOOK_* configuration', () => {
  const secret = newSecret()
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a URL without a secret', { WEBHOOK_URL: 'https://hooks.example.com/auth' }, /WEBHOOK_URL and WEBHOOK_SECRET go together/],
    ['a secret without a URL', { WEBHOOK_SECRET: secret }, /WEBHOOK_URL and WEBHOOK_SECRET go together/],
    ['event types without a URL', { WEBHOOK_EVENTS: 'user.created' }, /WEBHOOK_EVENTS needs WEBHOOK_URL/],
    ['a secret without whsec_', { WEBHOOK_URL: 'https://hooks.example.com', WEBHOOK_SECRET: 'plain-secret' }, /WEBHOOK_SECRET: expected whsec_/],
    ['a short key', { WEBHOOK_URL: 'https://hooks.example.com', WEBHOOK_SECRET: `whsec_${Buffer.alloc(16, 1).toString('base64')}` }, /WEBHOOK_SECRET: the key is 16 bytes: at least 24/],
    ['an http URL in production', { NODE_ENV: 'production', WEBHOOK_URL: 'http://hooks.example.com', WEBHOOK_SECRET: secret }, /WEBHOOK_URL must be https in production/],
    ['a retention of 0 days', { AUDIT_RETENTION_DAYS: '0' }, /AUDIT_RETENTION_DAYS/]
  ]
  for (const [name, env, message] of cases) it(`refuses ${name}`, () => assertConfigRefused(env, message))

  it('never prints the secret it refuses', () => {
    const short = `whsec_${Buffer.alloc(8, 9).toString('base64')}`
    try {
      loadConfig({ WEBHOOK_URL: 'https://hooks.example.com', WEBHOOK_SECRET: short })
      assert.fail('accepted')
    } catch (error) {
      assert.ok(error instanceof ConfigError)
      assert.ok(!error.message.includes(short.slice(6)), error.message)
    }
  })

  it('reads the event types and the retention', () => {
    const config = loadConfig({ WEBHOOK_URL: 'https://hooks.example.com/auth', WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'user.created, password.changed', AUDIT_RETENTION_DAYS: '30' })
    assert.deepEqual(config.webhooks, { url: 'https://hooks.example.com/auth', secret, events: ['user.created', 'password.changed'] })
    assert.equal(config.auth.auditRetentionDays, 30)
    assert.equal(loadConfig({}).webhooks, undefined)
    assert.equal(loadConfig({}).auth.auditRetentionDays, 90)
  })

  it('refuses an unknown event type at start, naming it', async () => {
    const config = testConfig({ WEBHOOK_URL: 'https://hooks.example.com/auth', WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'user.created,user.creatd' })
    await assert.rejects(createApp(config), /events: unknown event type\(s\): user\.creatd/)
  })
})
