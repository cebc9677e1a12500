import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

// Runs the CLI as a user would: compiled (npm test) or through tsx, like this file.
const cli = fileURLToPath(new URL(`../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const run = promisify(execFile)

/** The CLI on the database at `databaseUrl` (undefined: whatever its environment and ./.env say), run in `cwd`. */
function cliOn (dir: string, options: { databaseUrl?: string | undefined } = { databaseUrl: `sqlite:${join(dir, 'cli.db')}` }) {
  const env: NodeJS.ProcessEnv = { ...process.env, NEW_USER_PASSWORD: 'a long enough password 1' }
  if (options.databaseUrl === undefined) delete env.DATABASE_URL
  else env.DATABASE_URL = options.databaseUrl
  return async (...args: string[]) => {
    try {
      // A hung child fails the test instead of the whole run (it is killed after 60 s).
      const { stdout } = await run(process.execPath, [...process.execArgv, cli, ...args], { env, cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' })
      return { code: 0, out: stdout }
    } catch (error) {
      const e = error as { code: number, stdout: string, stderr: string }
      return { code: e.code, out: e.stdout + e.stderr }
    }
  }
}

describe('CLI', () => {
  it('creates an admin, lists users, rotates keys and ends sessions on the server database', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const cliRun = cliOn(dir)

    const created = await cliRun('users', 'create', 'alice', '--admin', '--email', 'alice@example.com')
    assert.equal(created.code, 0, created.out)
    assert.deepEqual(JSON.parse(created.out).scopes, ['me', 'items', 'admin'])

    const listed = JSON.parse((await cliRun('users', 'list')).out)
    assert.equal(listed.total, 1)
    assert.equal(listed.items[0].username, 'alice')

    const duplicate = await cliRun('users', 'create', 'ALICE')
    assert.equal(duplicate.code, 1)
    assert.match(duplicate.out, /already registered/)

    const before = JSON.parse((await cliRun('keys', 'list')).out)
    const rotated = JSON.parse((await cliRun('keys', 'rotate')).out)
    const after = JSON.parse((await cliRun('keys', 'list')).out)
    assert.equal(after.length, before.length + 1)
    type Key = { kid: string, retired_at: string | null, signs_from: string }
    const fresh = after.find((k: Key) => k.kid === rotated.kid) as Key
    assert.equal(fresh.retired_at, null)
    // Published now, signing later: the older key keeps signing until every verifier can know the new one.
    assert.equal(rotated.signs_from, fresh.signs_from)
    assert.ok(Date.parse(fresh.signs_from) > Date.now() + 60_000, fresh.signs_from)
    assert.ok(after.filter((k: Key) => k.kid !== rotated.kid).every((k: Key) => k.retired_at === null))

    const disabled = JSON.parse((await cliRun('users', 'disable', 'alice')).out)
    assert.deepEqual(disabled, { username: 'alice', disabled: true })
    assert.deepEqual(JSON.parse((await cliRun('sessions', 'list', 'alice')).out), [])
  })

  it('imports a FastAPI fake_users_db (--dry-run first), refuses a bad file whole, and unlocks a user', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const cliRun = cliOn(dir)
    const fixtures = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './fixtures/import/' : '../../test/fixtures/import/', import.meta.url))

    const dry = await cliRun('users', 'import', join(fixtures, 'fake-users-db.json'), '--dry-run')
    assert.equal(dry.code, 0, dry.out)
    assert.deepEqual(JSON.parse(dry.out).rows.map((r: { username: string }) => r.username), ['johndoe', 'alice'])
    assert.equal(JSON.parse((await cliRun('users', 'list')).out).total, 0, 'a dry run stores nothing')

    const bad = await cliRun('users', 'import', join(fixtures, 'invalid-unknown-hash.json'))
    assert.equal(bad.code, 1)
    assert.equal(JSON.parse(bad.out).ok, false)

    const done = await cliRun('users', 'import', join(fixtures, 'fake-users-db.json'))
    assert.equal(done.code, 0, done.out)
    assert.equal(JSON.parse(done.out).imported, 2)
    assert.equal(JSON.parse((await cliRun('users', 'list')).out).total, 2)

    const unlocked = await cliRun('users', 'unlock', 'johndoe')
    assert.equal(unlocked.code, 0, unlocked.out)
    assert.deepEqual(JSON.parse(unlocked.out), { username: 'johndoe', unlocked: false })
  })

  it('deletes a user (users delete <username>), as DELETE /users/{id} does, and says so for an unknown one', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const cliRun = cliOn(dir)
    assert.equal((await cliRun('users', 'create', 'alice', '--admin')).code, 0)
    assert.equal((await cliRun('users', 'create', 'bob')).code, 0)

    const deleted = await cliRun('users', 'delete', 'alice')
    assert.equal(deleted.code, 0, deleted.out)
    assert.deepEqual(JSON.parse(deleted.out), { username: 'alice', deleted: true })
    const listed = JSON.parse((await cliRun('users', 'list')).out)
    assert.deepEqual(listed.items.map((u: { username: string }) => u.username), ['bob'])

    const again = await cliRun('users', 'delete', 'alice')
    assert.equal(again.code, 1)
    assert.match(again.out, /error: User not found/)
    const nameless = await cliRun('users', 'delete')
    assert.equal(nameless.code, 1)
    assert.match(nameless.out, /users delete needs a username/)
    assert.equal(JSON.parse((await cliRun('users', 'list')).out).total, 1)
  })

  it('reads ./.env as the server does, so both open the same database', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, '.env'), 'DATABASE_URL=sqlite:./from-dotenv.db\n')
    const listed = await cliOn(dir, { databaseUrl: undefined })('users', 'list')
    assert.equal(listed.code, 0, listed.out)
    assert.ok(existsSync(join(dir, 'from-dotenv.db')), 'the database named in .env')
  })

  it('exits 2 with the usage on an unknown command', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const result = await cliOn(dir)('frobnicate', 'now')
    assert.equal(result.code, 2)
    assert.match(result.out, /Usage: fastify-auth/)
  })
})
