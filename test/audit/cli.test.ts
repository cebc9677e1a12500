import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { eventually } from '../helper.js'
import { newSecret } from '../webhooks/receiver.js'

// The CLI as a user runs it: compiled (npm test) or through tsx, like this file.
const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const run = promisify(execFile)

function cliOn (dir: string, extra: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`, NEW_USER_PASSWORD: 'a long enough password 1', ...extra }
  return {
    env,
    async run (...args: string[]) {
      try {
        const { stdout, stderr } = await run(process.execPath, [...process.execArgv, cli, ...args], { env, cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' })
        return { code: 0, out: stdout, err: stderr }
      } catch (error) {
        const e = error as { code: number, stdout: string, stderr: string }
        return { code: e.code, out: e.stdout, err: e.stderr }
      }
    }
  }
}

const lines = (text: string) => text.split('\n').filter(Boolean).map(line => JSON.parse(line) as { type: string, data: Record<string, unknown> })

describe('CLI: audit and webhooks', () => {
  it('audit tail and audit export print the events as JSON lines; webhooks list and retry', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-audit-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const { run: cliRun } = cliOn(dir, { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: newSecret() })

    assert.equal((await cliRun('users', 'create', 'alice')).code, 0)
    assert.equal((await cliRun('users', 'disable', 'alice')).code, 0)
    const tail = await cliRun('audit', 'tail')
    assert.equal(tail.code, 0, tail.err)
    // alice had no session: disabling her ends none, so no session.ended.
    assert.deepEqual(lines(tail.out).map(e => e.type), ['user.created', 'user.disabled'])
    assert.equal(lines(tail.out)[0]!.data.origin, 'cli')

    const exported = await cliRun('audit', 'export', '--since', '2000-01-01')
    assert.equal(exported.code, 0, exported.err)
    assert.deepEqual(lines(exported.out), lines(tail.out))
    assert.equal((await cliRun('audit', 'export', '--since', new Date(Date.now() + 60_000).toISOString())).out, '')
    const badLimit = await cliRun('audit', 'tail', '--limit', 'all')
    assert.equal(badLimit.code, 1)
    assert.match(badLimit.err, /--limit needs a whole number/)
    const bad = await cliRun('audit', 'export', '--since', 'last tuesday')
    assert.equal(bad.code, 1)
    assert.match(bad.err, /--since needs an ISO date/)

    const listed = JSON.parse((await cliRun('webhooks', 'list')).out) as Array<{ id: string, event_type: string, attempts: number, state: string }>
    assert.deepEqual(listed.map(d => d.event_type).sort(), lines(tail.out).map(e => e.type).sort())
    assert.ok(listed.every(d => d.state === 'queued' && d.attempts === 0))
    const retried = await cliRun('webhooks', 'retry', listed[0]!.id)
    assert.equal(retried.code, 0, retried.err)
    assert.deepEqual(JSON.parse(retried.out), { id: listed[0]!.id, queued: true })
    const unknown = await cliRun('webhooks', 'retry', 'no-such-delivery')
    assert.equal(unknown.code, 1)
    assert.match(unknown.err, /no webhook delivery no-such-delivery/)
  })

  it('audit tail --follow prints new events as they are stored, until interrupted', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-follow-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const { run: cliRun, env } = cliOn(dir)
    assert.equal((await cliRun('users', 'create', 'first')).code, 0)

    const child = spawn(process.execPath, [...process.execArgv, cli, 'audit', 'tail', '--follow'], { env, cwd: dir })
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))

    await eventually(async () => out, text => text.includes('"first"'), 1000)
    assert.equal((await cliRun('users', 'create', 'second')).code, 0)
    await eventually(async () => out, text => text.includes('"second"'), 1000)
    child.kill('SIGINT')
    assert.equal(await exited, 0)
    assert.deepEqual(lines(out).map(e => e.data.username), ['first', 'second'])
  })
})
