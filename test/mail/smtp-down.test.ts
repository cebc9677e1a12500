import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { durableDatabaseUrl, eventually } from '../helper.js'
import { buildMailApp, postJson, registerWithEmail } from './helpers.js'
import { startSmtp } from './smtp.js'

/*
 * CONTRACT.md "E-mails": a slow or failing mail server neither delays an answer nor loses a
 * message. The server here is a real one (smtp-server) that the test stops, slows and restarts.
 */

/** The outbox row of the reset message to `email`. */
const resetRow = (app: FastifyInstance, email: string) => app.db.selectFrom('mail_outbox').selectAll()
  .where('recipient', '=', email).where('subject', 'like', 'Reset%').executeTakeFirst()

async function timed<T> (work: () => Promise<T>) {
  const started = performance.now()
  const result = await work()
  return { result, ms: performance.now() - started }
}

describe('a mail server that is down or slow', () => {
  it('answers /forgot-password at once while the server is stopped, records the failed attempts, and delivers once it is back', async (t) => {
    const smtp = await startSmtp(t)
    const app = await buildMailApp(t, { env: { SMTP_URL: smtp.url } })
    const { username, email } = await registerWithEmail(app)
    await smtp.waitFor(email) // the verification e-mail of the registration
    await smtp.stop()

    const { result: res, ms } = await timed(() => postJson(app, '/forgot-password', { email }))
    assert.equal(res.statusCode, 202)
    assert.ok(ms < 500, `answered in ${ms.toFixed(1)} ms`)

    // The worker tries, fails (connection refused), records it and backs off; nothing is lost.
    const row = await eventually(() => resetRow(app, email), row => row !== undefined && row.attempts >= 3)
    assert.ok(row !== undefined && row.attempts >= 3, `attempts: ${row?.attempts}`)
    assert.equal(row.sent_at, null)
    assert.equal(row.failed_at, null)
    assert.match(row.last_error ?? '', /ECONNREFUSED|ECONNECTION|ESOCKET/)
    assert.ok(row.next_attempt_at > Date.now() - 1000)

    await smtp.start() // the same port
    const [, reset] = await smtp.waitFor(email, 2)
    assert.match(reset!.text ?? '', /\/reset-password\?token=/)
    // The SMTP server has the message before the worker records the send: wait for the record.
    const sent = await eventually(() => resetRow(app, email), row => row?.sent_at !== null)
    // The attempt counted at claim time may be the one that succeeds: at least as many, never fewer.
    assert.ok(sent?.sent_at !== null && sent!.attempts >= row.attempts, `sent on attempt ${sent?.attempts}`)
    assert.equal(sent!.last_error, null)
    assert.equal((await postJson(app, '/reset-password', { token: reset!.token!, password: 'the passphrase after the outage' })).statusCode, 204)
    assert.ok(username.length > 0)
  })

  it('answers at once while the server takes its time to accept each message', async (t) => {
    const smtp = await startSmtp(t, { delayMs: 1500 })
    const app = await buildMailApp(t, { env: { SMTP_URL: smtp.url } })
    const { email } = await registerWithEmail(app)
    const { result: res, ms } = await timed(() => postJson(app, '/forgot-password', { email }))
    assert.equal(res.statusCode, 202)
    assert.ok(ms < 500, `answered in ${ms.toFixed(1)} ms`)
    assert.equal(smtp.to(email).length, 0, 'nothing delivered yet')
    const messages = await smtp.waitFor(email, 2, 15_000)
    assert.equal(messages.filter(m => /reset-password/.test(m.text ?? '')).length, 1)
  })

  it('keeps a message through a restart of the app: another instance on the database sends it', async (t) => {
    const smtp = await startSmtp(t)
    await smtp.stop()
    const databaseUrl = await durableDatabaseUrl(t)
    const first = await buildMailApp(t, { env: { SMTP_URL: smtp.url }, databaseUrl })
    const { email } = await registerWithEmail(first)
    assert.equal((await postJson(first, '/forgot-password', { email })).statusCode, 202)
    await sleep(100)
    await first.close() // with the mail server still down

    await smtp.start()
    const second = await buildMailApp(t, { env: { SMTP_URL: smtp.url }, databaseUrl })
    const messages = await smtp.waitFor(email, 2)
    assert.deepEqual(messages.map(m => /\/verify\?/.test(m.text ?? '') ? 'verify' : 'reset').sort(), ['reset', 'verify'])
    assert.ok(second.server !== undefined)
  })
})
