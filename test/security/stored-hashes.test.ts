import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { createApp } from '../../src/app.js'
import { hashProblem } from '../../src/services/hash-formats.js'
import { assertNoStore, PASSWORD, passwordGrant, registerUser, sqliteFile, testConfig, uniqueName } from '../helper.js'
import { overBoundHashes } from '../services/over-bound-hashes.js'

/*
 * Issue 18, finding 2: three rows whose hashes cost seconds and gigabytes to verify (accepted by
 * `users import` before the bound, or written by hand) stopped the server from starting, and the
 * CLI with it, so they could not even be deleted. Now such a hash is never computed.
 */

// The CLI as a user runs it: compiled (npm test) or through tsx, like this file.
const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const run = promisify(execFile)

describe('stored hashes beyond the cost bound (issue 18)', () => {
  it('never stop the start or the CLI, and their users\' logins fail in the time of a normal check', async (t) => {
    const databaseUrl = sqliteFile(t)
    const config = testConfig({ DATABASE_URL: databaseUrl, TOKEN_RATE_LIMIT: '0' })

    // Three users, then their hashes replaced by SQL, as a hand edit or an old import left them.
    const first = await createApp(config)
    const users: Record<string, string> = {}
    for (const [kind, hash] of Object.entries(await overBoundHashes())) {
      const { user } = await registerUser(first, { username: uniqueName('heavy') })
      await sql`update users set password_hash = ${hash} where id = ${user.id}`.execute(first.db)
      assert.ok(hashProblem(hash) !== undefined, kind)
      users[kind] = user.username
    }
    await first.close()

    let started = performance.now()
    const app = await createApp(config)
    t.after(() => app.close())
    const startMs = performance.now() - started
    t.diagnostic(`createApp with three over-bound hashes stored: ${startMs.toFixed(0)} ms`)
    assert.ok(startMs < 5000, `started in ${startMs.toFixed(0)} ms`)

    for (const [kind, username] of Object.entries(users)) {
      started = performance.now()
      const res = await passwordGrant(app, username, PASSWORD)
      const ms = performance.now() - started
      t.diagnostic(`login of a user with ${kind} (right password): ${res.statusCode} in ${ms.toFixed(0)} ms`)
      assert.equal(res.statusCode, 400, res.body)
      assert.equal(res.json<{ error: string }>().error, 'invalid_grant')
      assertNoStore(res)
      assert.ok(ms < 2000, `${kind}: ${ms.toFixed(0)} ms`)
    }

    // The CLI builds the same app on the same database: it starts, and lists (and could delete) them.
    const cwd = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(cwd, { recursive: true, force: true }))
    started = performance.now()
    const { stdout } = await run(process.execPath, [...process.execArgv, cli, 'users', 'list'], {
      cwd, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 60_000, killSignal: 'SIGKILL'
    })
    const cliMs = performance.now() - started
    t.diagnostic(`users list: ${cliMs.toFixed(0)} ms`)
    const listed = JSON.parse(stdout) as { items: Array<{ username: string }> }
    assert.deepEqual(listed.items.map(user => user.username).sort(), Object.values(users).sort())
    // The old start verified each of them once before any command: ~5.6 s and 2 GiB for the argon2
    // one, 4-8 s for bcrypt 16, 2-4 s for pbkdf2 (and the CLI starts in 1-5 s on a busy machine).
    assert.ok(cliMs < 15_000, `the CLI took ${cliMs.toFixed(0)} ms`)
  })
})
