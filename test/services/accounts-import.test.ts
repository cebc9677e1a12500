import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { createApp } from '../../src/app.js'
import { eventually, isolatedDatabaseUrl, PASSWORD, postToken, registerUser, storeOf, testConfig, uniqueName } from '../helper.js'
import { overBoundHashes } from './over-bound-hashes.js'

/*
 * CONTRACT.md "Importing users", end to end: files whose hashes passlib, bcrypt and argon2-cffi
 * made (scripts/make-hash-fixtures.py), imported, then logins with the original passwords.
 */
// test/fixtures is not compiled: from dist/test/services, it is three levels up.
const FIXTURES = new URL(import.meta.url.endsWith('.ts') ? '../fixtures/import/' : '../../../test/fixtures/import/', import.meta.url)
const FIXTURE = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8')
const NATIVE = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/

const stored = async (app: FastifyInstance, login: string) => (await storeOf(app).users.findByLogin(login))?.password_hash
const logIn = (app: FastifyInstance, username: string, password: string) => postToken(app, { username, password })
/** The hash upgrade runs after the answer: wait for it to land. */
const upgraded = (app: FastifyInstance, login: string) =>
  eventually(() => stored(app, login), hash => hash != null && NATIVE.test(hash))

describe('users import (FastAPI hashes) and upgrade at login', () => {
  it('imports the tutorial\'s fake_users_db, logs johndoe in with "secret", and replaces his bcrypt hash with argon2id', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl() }))
    t.after(() => app.close())
    const report = await app.authAccounts.importUsers(FIXTURE('fake-users-db.json'))
    assert.ok(report.ok, JSON.stringify(report))
    assert.equal(report.imported, 2)
    assert.match(await stored(app, 'johndoe') ?? '', /^\$2b\$12\$/)

    assert.equal((await logIn(app, 'johndoe', 'not secret')).statusCode, 400, 'a wrong password is refused')
    const first = await logIn(app, 'johndoe', 'secret')
    assert.equal(first.statusCode, 200, first.body)
    assert.match(await upgraded(app, 'johndoe') ?? '', NATIVE)
    assert.equal((await logIn(app, 'johndoe', 'secret')).statusCode, 200, 'and again, on the new hash')
    assert.equal((await logIn(app, 'johndoe@example.com', 'secret')).statusCode, 200, 'by e-mail too')
    assert.equal((await logIn(app, 'alice', 'secret2')).statusCode, 400, 'disabled: stays refused')
  })

  it('imports the array shape (pbkdf2-sha256, argon2i) and the full-stack template\'s rows (e-mail logins)', async (t) => {
    const cases = [
      ['users-array.json', [['carol', 'P\u00e4ssw\u00f6rd mit \u00dcml\u00e4uten'], ['dave', 'dave-password-1'], ['admin@example.com', 'changethis-admin']]],
      ['fullstack-users.json', [['user@example.com', 'user-password-1'], ['admin@example.com', 'changethis-admin']]]
    ] as const
    for (const [file, logins] of cases) {
      const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl() }))
      t.after(() => app.close())
      const report = await app.authAccounts.importUsers(FIXTURE(file))
      assert.ok(report.ok, `${file}: ${JSON.stringify(report)}`)
      for (const [login, password] of logins) {
        const res = await logIn(app, login, password)
        assert.equal(res.statusCode, 200, `${file}, ${login}: ${res.body}`)
        assert.match(await upgraded(app, login) ?? '', NATIVE, login)
      }
    }
  })

  it('refuses a bad file whole: nothing stored, every problem by row', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl() }))
    t.after(() => app.close())
    const before = (await storeOf(app).users.list(100, 0)).total
    for (const file of ['invalid-unknown-hash.json', 'invalid-bad-username.json', 'invalid-duplicates.json']) {
      const report = await app.authAccounts.importUsers(FIXTURE(file))
      assert.equal(report.ok, false, file)
      if (!report.ok) assert.ok(report.errors.length > 0 && report.errors.every(e => Number.isInteger(e.row) && e.message.length > 0), file)
    }
    const broken = await app.authAccounts.importUsers('{"a": {"username": "a", "hashed_password": "x"}, "a": {}}')
    assert.equal(broken.ok, false, 'a key written twice in the raw text')
    assert.equal((await storeOf(app).users.list(100, 0)).total, before)
  })

  it('refuses rows that clash with existing accounts, and --dry-run stores nothing', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl() }))
    t.after(() => app.close())
    const dry = await app.authAccounts.importUsers(FIXTURE('fake-users-db.json'), { dryRun: true })
    assert.ok(dry.ok && dry.dryRun && dry.imported === 0 && dry.rows.length === 2, JSON.stringify(dry))
    assert.equal(await stored(app, 'johndoe'), undefined)
    await registerUser(app, { username: 'JohnDoe' })
    const clash = await app.authAccounts.importUsers(FIXTURE('fake-users-db.json'))
    assert.equal(clash.ok, false)
    if (!clash.ok) assert.match(clash.errors.map(e => e.message).join('\n'), /johndoe/i)
    assert.equal(await stored(app, 'alice'), undefined, 'alice was not imported either')
  })

  it('upgrades our own older argon2 parameters, and never overwrites a password changed meanwhile', async (t) => {
    const databaseUrl = await isolatedDatabaseUrl()
    const file = databaseUrl === 'sqlite::memory:' ? undefined : databaseUrl
    // One database seen by two configurations needs a shared one: a PostgreSQL schema, or one app.
    const config = testConfig({ DATABASE_URL: databaseUrl })
    const app = await createApp(config)
    t.after(() => app.close())
    const { user } = await registerUser(app)
    const old = await stored(app, user.username)
    assert.match(old ?? '', NATIVE)
    if (file === undefined) {
      // Same app: raise the parameters the way an operator would, by restarting with new ones.
      await app.close()
    }
    const stronger = await createApp({ ...config, auth: { ...config.auth, argon2: { memoryCost: 19_456, timeCost: 3, parallelism: 1 } } })
    t.after(() => stronger.close())
    if (file === undefined) {
      // In-memory SQLite is per connection: put the user on this database first.
      await storeOf(stronger).users.create({ username: user.username, password_hash: old! })
    }
    assert.equal((await logIn(stronger, user.username, PASSWORD)).statusCode, 200)
    const hash = await eventually(() => stored(stronger, user.username), hash => hash !== old)
    assert.match(hash ?? '', /^\$argon2id\$v=19\$m=19456,t=3,p=1\$/)

    // Compare-and-set: a hash that changed since the login verified is kept.
    const changed = await storeOf(stronger).users.findByLogin(user.username)
    assert.equal(await storeOf(stronger).users.replacePasswordHash(changed!.id, old!, 'stale'), false)
    assert.equal(await stored(stronger, user.username), hash)
  })

  it('ends the timing floor at the next clean-up once the last imported hash is upgraded, and not before', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '0' }))
    t.after(() => app.close())
    const { johndoe } = JSON.parse(FIXTURE('fake-users-db.json')) as Record<string, unknown> // without alice: one imported user
    assert.ok((await app.authAccounts.importUsers(JSON.stringify({ johndoe }))).ok)
    const median = async (username: string) => {
      const times: number[] = []
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        assert.equal((await logIn(app, username, 'wrong password 1')).statusCode, 400)
        times.push(performance.now() - started)
      }
      return times.sort((a, b) => a - b)[2]!
    }
    await logIn(app, 'johndoe', 'wrong password 1') // his first check sets the floor (an import while running)
    const floored = await median(uniqueName('ghost'))
    await app.authSessions.purge()
    assert.ok(await median(uniqueName('ghost')) > floored / 2, 'the floor stays while johndoe is not upgraded')

    assert.equal((await logIn(app, 'johndoe', 'secret')).statusCode, 200)
    assert.match(await upgraded(app, 'johndoe') ?? '', NATIVE)
    // A hash beyond the cost bound (written by hand) is never computed, so it keeps no floor alive.
    await storeOf(app).users.create({ username: uniqueName('poisoned'), password_hash: (await overBoundHashes())['argon2id 2 GiB'] })
    await app.authSessions.purge()
    const after = await median(uniqueName('ghost'))
    t.diagnostic(`median /token of an unknown name: ${floored.toFixed(1)} ms with the floor, ${after.toFixed(1)} ms after the last upgrade`)
    assert.ok(after < floored / 3, `${after.toFixed(1)} ms after, ${floored.toFixed(1)} ms before`)
  })

  it('costs an imported bcrypt user, a native user and an unknown user about the same at /token, before and after his upgrade', async (t) => {
    // 66 failed logins from one address: the per-address limit and the per-account lock are off
    // for this measurement (both answer 429 without hashing).
    const app = await createApp(testConfig({ DATABASE_URL: await isolatedDatabaseUrl(), TOKEN_RATE_LIMIT: '0', LOGIN_USERNAME_RATE_LIMIT: '0' }))
    t.after(() => app.close())
    const report = await app.authAccounts.importUsers(FIXTURE('fake-users-db.json'))
    assert.ok(report.ok)
    const { user } = await registerUser(app)
    const time = async (username: string) => {
      const started = performance.now()
      const res = await logIn(app, username, 'wrong password 1')
      assert.equal(res.statusCode, 400)
      return performance.now() - started
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
    /** Medians of interleaved wrong-password logins: johndoe, a native user, an unknown name. */
    const measure = async (when: string) => {
      const runs = { johndoe: [] as number[], native: [] as number[], unknown: [] as number[] }
      for (let round = 0; round < 11; round++) {
        runs.johndoe.push(await time('johndoe'))
        runs.native.push(await time(user.username))
        runs.unknown.push(await time(uniqueName('ghost')))
      }
      const [johndoe, native, unknown] = [median(runs.johndoe), median(runs.native), median(runs.unknown)]
      t.diagnostic(`median /token ${when}: johndoe ${johndoe.toFixed(1)} ms, native ${native.toFixed(1)} ms, unknown ${unknown.toFixed(1)} ms`)
      for (const [name, value] of [['native', native], ['unknown', unknown]] as const) {
        const ratio = value / johndoe
        assert.ok(ratio > 0.5 && ratio < 2, `${when}: ${name}/johndoe = ${ratio.toFixed(2)}`)
      }
    }

    await time('johndoe') // the first check of a bcrypt hash sets the floor (an import while running)
    await measure('with johndoe on his imported bcrypt hash')
    assert.equal((await logIn(app, 'johndoe', 'secret')).statusCode, 200)
    assert.match(await upgraded(app, 'johndoe') ?? '', NATIVE)
    await measure('after his upgrade to argon2id')
  })
})
