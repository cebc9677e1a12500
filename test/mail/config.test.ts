import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../src/config.js'
import { assertConfigRefused } from '../helper.js'
import { buildMailApp } from './helpers.js'

/* The mail variables (CONTRACT.md "Running": SMTP_URL, MAIL_FROM, PUBLIC_URL, REQUIRE_VERIFIED_EMAIL), validated by loadConfig. */

const refuses = assertConfigRefused

describe('loadConfig: e-mail', () => {
  it('has the documented defaults: no SMTP, the issuer as PUBLIC_URL, no-reply@ its hostname, verification not required', () => {
    const config = loadConfig({})
    assert.equal(config.mail.smtpUrl, undefined)
    assert.equal(config.mail.publicUrl, 'http://127.0.0.1:3000')
    assert.equal(config.mail.from, 'no-reply@127.0.0.1')
    assert.equal(config.mail.requireVerifiedEmail, false)
    assert.equal(config.mail.production, false)
    assert.equal(config.mail.cooldownSeconds, 60)
  })

  it('derives PUBLIC_URL and MAIL_FROM from JWT_ISSUER, without its port or a trailing slash', () => {
    const config = loadConfig({ JWT_ISSUER: 'https://auth.example.com:8443/' })
    assert.equal(config.mail.publicUrl, 'https://auth.example.com:8443')
    assert.equal(config.mail.from, 'no-reply@auth.example.com')
  })

  it('falls back to the server\'s origin for PUBLIC_URL when the issuer is not an http(s) URL', () => {
    const config = loadConfig({ JWT_ISSUER: 'urn:example:auth', HOST: '0.0.0.0', PORT: '8080' })
    assert.equal(config.mail.publicUrl, 'http://0.0.0.0:8080')
    assert.equal(config.mail.from, 'no-reply@0.0.0.0')
  })

  it('reads the documented variables', () => {
    const config = loadConfig({
      SMTP_URL: 'smtps://mailer:secret@smtp.example.com:465',
      MAIL_FROM: 'Example Auth <auth@example.com>',
      PUBLIC_URL: 'https://example.com/auth/',
      REQUIRE_VERIFIED_EMAIL: 'true',
      EMAIL_COOLDOWN_SECONDS: '0',
      NODE_ENV: 'production'
    })
    assert.equal(config.mail.smtpUrl, 'smtps://mailer:secret@smtp.example.com:465')
    assert.equal(config.mail.from, 'Example Auth <auth@example.com>')
    assert.equal(config.mail.publicUrl, 'https://example.com/auth', 'a path prefix is kept, the trailing slash dropped')
    assert.equal(config.mail.requireVerifiedEmail, true)
    assert.equal(config.mail.production, true)
    assert.equal(config.mail.cooldownSeconds, 0)
  })

  it('takes empty values as unset', () => {
    const config = loadConfig({ SMTP_URL: '', MAIL_FROM: '', PUBLIC_URL: '', REQUIRE_VERIFIED_EMAIL: '' })
    assert.equal(config.mail.smtpUrl, undefined)
    assert.equal(config.mail.requireVerifiedEmail, false)
  })

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    ['an SMTP_URL of another scheme', { SMTP_URL: 'http://smtp.example.com' }, /SMTP_URL/],
    ['an SMTP_URL with spaces', { SMTP_URL: 'smtp://a b' }, /SMTP_URL/],
    ['an SMTP_URL that is not a URL', { SMTP_URL: 'smtp://[bad' }, /SMTP_URL/],
    ['a MAIL_FROM without @', { MAIL_FROM: 'nobody' }, /MAIL_FROM/],
    ['a PUBLIC_URL that is not http(s)', { PUBLIC_URL: 'ftp://example.com' }, /PUBLIC_URL/],
    ['a PUBLIC_URL with a query', { PUBLIC_URL: 'https://example.com/?x=1' }, /PUBLIC_URL/],
    ['a REQUIRE_VERIFIED_EMAIL that is not a boolean', { REQUIRE_VERIFIED_EMAIL: 'maybe' }, /REQUIRE_VERIFIED_EMAIL/],
    ['a negative EMAIL_COOLDOWN_SECONDS', { EMAIL_COOLDOWN_SECONDS: '-1' }, /EMAIL_COOLDOWN_SECONDS/],
    ['an EMAIL_COOLDOWN_SECONDS over an hour', { EMAIL_COOLDOWN_SECONDS: '3601' }, /EMAIL_COOLDOWN_SECONDS/]
  ]
  for (const [name, env, message] of invalid) it(`refuses ${name}, naming it`, () => refuses(env, message))
})

describe('where e-mail goes, said at start', () => {
  const startLog = async (t: Parameters<typeof buildMailApp>[0], env: Record<string, string>) => {
    const logs: string[] = []
    await buildMailApp(t, { env, logs })
    return logs.map(line => JSON.parse(line) as { level: number, msg: string, smtp?: string, outbox?: string })
  }

  it('warns in production without SMTP_URL that mail is not delivered', async (t) => {
    const entry = (await startLog(t, { NODE_ENV: 'production' })).find(e => /e-mail is not delivered/.test(e.msg))
    assert.ok(entry !== undefined)
    assert.equal(entry.level, 40, 'a warning')
    assert.match(entry.outbox ?? '', /data\/outbox$/)
  })

  it('informs (no warning) in development without SMTP_URL', async (t) => {
    const entry = (await startLog(t, {})).find(e => /e-mail is not delivered/.test(e.msg))
    assert.equal(entry?.level, 30)
  })

  it('names the SMTP server, without its credentials', async (t) => {
    const entries = await startLog(t, { SMTP_URL: 'smtp://mailer:hunter2-secret@127.0.0.1:2525' })
    const entry = entries.find(e => e.smtp !== undefined)
    assert.equal(entry?.smtp, 'smtp://127.0.0.1:2525')
    assert.equal(JSON.stringify(entries).includes('hunter2-secret'), false)
  })
})
