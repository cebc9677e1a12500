import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
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

    const shown = await cliRun('mail', 'show', listed[0]!.id)
    assert.equal(shown.code, 0, shown.err)
    const message = parseMail(shown.out)
    assert.match(message.text ?? '', /^http:\/\/127\.0\.0\.1:3000\/verify\?token=[A-Za-z0-9_-]{43}$/m)
    assert.ok(message.html?.includes('/verify?token='))
    assert.equal(message.headers['message-id'], `<${listed[0]!.id}@127.0.0.1>`)

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
})
