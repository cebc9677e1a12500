import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createApp } from '../../src/app.js'
import { testConfig } from '../helper.js'
import { parseMail } from './smtp.js'

// The command line as a user runs it (compiled, or through tsx like this file), in a directory of its own.
const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const run = promisify(execFile)

function cliIn (dir: string) {
  const env = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`, NEW_USER_PASSWORD: 'a long enough password 1', SMTP_URL: '' }
  return async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [...process.execArgv, cli, ...args], { cwd: dir, env, timeout: 60_000, killSignal: 'SIGKILL' })
      return { code: 0, out: stdout, err: stderr }
    } catch (error) {
      const e = error as { code: number, stdout: string, stderr: string }
      return { code: e.code, out: e.stdout, err: e.stderr }
    }
  }
}

describe('npm run cli -- mail', () => {
  it('lists and shows the e-mails written as .eml files to ./data/outbox without SMTP_URL, and the queue in the database', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-mail-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const cliRun = cliIn(dir)

    const created = await cliRun('users', 'create', 'alice', '--email', 'alice@example.com')
    assert.equal(created.code, 0, created.err)
    assert.equal(JSON.parse(created.out).email_verified, false)

    // The verification e-mail is queued in the database; nothing is written before a worker runs.
    const before = await cliRun('mail', 'list')
    assert.equal(before.code, 0, before.err)
    assert.deepEqual(JSON.parse(before.out), [])
    assert.match(before.err, /1 message\(s\) queued/)

    const sent = await cliRun('mail', 'send')
    assert.deepEqual(JSON.parse(sent.out), { sent: 1, failed: 0 }, sent.err)
    const files = readdirSync(join(dir, 'data', 'outbox'))
    assert.equal(files.length, 1)
    assert.match(files[0]!, /^\d{8}T\d{6}Z-[0-9a-f-]{36}\.eml$/)

    const listed = JSON.parse((await cliRun('mail', 'list')).out) as Array<{ id: string, to: string, subject: string, date: string }>
    assert.equal(listed.length, 1)
    assert.equal(listed[0]!.to, 'alice@example.com')
    assert.match(listed[0]!.subject, /Confirm your e-mail address/)

    const shown = await cliRun('mail', 'show', listed[0]!.id, '--raw')
    assert.equal(shown.code, 0, shown.err)
    const message = parseMail(shown.out)
    assert.match(message.text ?? '', /^http:\/\/127\.0\.0\.1:3000\/verify\?token=[A-Za-z0-9_-]{43}$/m)
    assert.ok(message.html?.includes('/verify?token='))
    assert.equal(message.headers['message-id'], `<${listed[0]!.id}@127.0.0.1>`)

    // Without --raw: the headers that matter and the decoded text, whose link works when copied.
    const readable = await cliRun('mail', 'show', listed[0]!.id)
    assert.equal(readable.code, 0, readable.err)
    assert.match(readable.out, /^From: no-reply@127\.0\.0\.1\nTo: alice@example\.com\nSubject: Confirm your e-mail address.*\nDate: .+\n\n/)
    assert.ok(readable.out.includes(message.text!.trim()), 'the text part, decoded')
    assert.doesNotMatch(readable.out, /=3D|=\n|Content-Transfer-Encoding|<html/i)

    const queue = JSON.parse((await cliRun('mail', 'queue')).out) as Array<Record<string, unknown>>
    assert.equal(queue.length, 1)
    assert.equal(queue[0]!.id, listed[0]!.id)
    assert.equal(typeof queue[0]!.sent_at, 'number')
    assert.equal('text' in queue[0]!, false, 'no bodies in the listing')

    const missing = await cliRun('mail', 'show', 'no-such-message')
    assert.equal(missing.code, 1)
    assert.match(missing.err, /no message no-such-message/)
    assert.ok(existsSync(join(dir, 'cli.db')))
  })

  it('shows a link that works when copied from its output: GET it (200), then verify the address with its token', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-mail-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const cliRun = cliIn(dir)
    assert.equal((await cliRun('users', 'create', 'bob', '--email', 'bob@example.com')).code, 0)
    assert.deepEqual(JSON.parse((await cliRun('mail', 'send')).out), { sent: 1, failed: 0 })
    const [mail] = JSON.parse((await cliRun('mail', 'list')).out) as Array<{ id: string }>
    const shown = await cliRun('mail', 'show', mail!.id)
    assert.equal(shown.code, 0, shown.err)

    // What a person copies: the line of the output that is a URL.
    const copied = shown.out.split('\n').find(line => /^https?:\/\//.test(line.trim()))?.trim()
    assert.ok(copied !== undefined, shown.out)
    const raw = (await cliRun('mail', 'show', mail!.id, '--raw')).out
    assert.ok(!raw.includes(copied), 'the raw message has the link quoted-printable, not as it is copied')

    // The server on the same database opens the copied link.
    const app = await createApp(testConfig({ DATABASE_URL: `sqlite:${join(dir, 'cli.db')}` }))
    t.after(() => app.close())
    const url = new URL(copied)
    const page = await app.inject({ method: 'GET', url: url.pathname + url.search })
    assert.equal(page.statusCode, 200, page.body)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    const verified = await app.inject({ method: 'POST', url: '/verify', payload: { token: url.searchParams.get('token') } })
    assert.equal(verified.statusCode, 200, verified.body)
    assert.equal(verified.json().email_verified, true)
  })
})
