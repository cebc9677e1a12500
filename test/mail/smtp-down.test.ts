import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { isolatedDatabaseUrl } from '../helper.js'
import { buildMailApp, postJson, registerWithEmail } from './helpers.js'
import { startSmtp } from './smtp.js'

/*
 * CONTRACT.md "E-mails": a slow or failing mail server neither delays an answer nor loses a
 * message. The server here is a real one (smtp-server) that the test stops, slows and restarts.
 */

/** The outbox row of the reset message to `email`. */
const resetRow = (app: FastifyInstance, email: string) => app.db.selectFrom('mail_outbox').selectAll()
  .where('recipient', '=', email).where('subject', 'like', 'Reset%').executeTakeFirst()

/** A database that outlives an app: a file for SQLite, a schema for TEST_DATABASE_URL=postgres://… */
async function durableDatabaseUrl (t: TestContext) {
  if (process.env.TEST_DATABASE_URL?.startsWith('postgres') === true) return isolatedDatabaseUrl()
  const dir = mkdtempSync(join(tmpdir(), 'mail-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${join(dir, 'app.db')}`
}

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
    let row = await resetRow(app, email)
    for (let i = 0; i < 200 && (row === undefined || row.attempts < 3); i++) {
      await sleep(20)
      row = await resetRow(app, email)
    }
    assert.ok(row !== undefined && row.attempts >= 3, `attempts: ${row?.attempts}`)
    assert.equal(row.sent_at, null)
    assert.equal(row.failed_at, null)
    assert.match(row.last_error ?? '', /ECONNREFUSED|ECONNECTION|ESOCKET/)
    assert.ok(row.next_attempt_at > Date.now() - 1000)

    await smtp.start() // the same port
    const [, reset] = await smtp.waitFor(email, 2)
    assert.match(reset!.text ?? '', /\/reset-password\?token=/)
    // The SMTP server has the message before the worker records the send: wait for the record.
    let sent = await resetRow(app, email)
    for (let i = 0; i < 200 && sent?.sent_at === null; i++) {
      await sleep(20)
      sent = await resetRow(app, email)
    }
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
