import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createApp } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { PASSWORD, isolatedTestConfig, passwordGrant, testConfig } from '../helper.js'
import { mfaUser } from './mfa-helpers.js'

/* DATA_ENCRYPTION_KEY (issue 21): read and checked in src/config.ts; required in production once TOTP is in use. */

describe('DATA_ENCRYPTION_KEY', () => {
  it('is checked at start: 32 bytes of base64, else a ConfigError naming the variable (without its value)', () => {
    assert.equal(loadConfig({ DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64') }).auth.mfa.encryptionKey?.length, 44)
    for (const bad of [randomBytes(31).toString('base64'), 'short', 'ä'.repeat(44)]) {
      assert.throws(() => loadConfig({ DATA_ENCRYPTION_KEY: bad }), (error: Error) =>
        error instanceof ConfigError && /DATA_ENCRYPTION_KEY/.test(error.message) && !error.message.includes(bad))
    }
    assert.equal(loadConfig({}).auth.mfa.requireEncryption, false)
    assert.equal(loadConfig({ NODE_ENV: 'production' }).auth.mfa.requireEncryption, true)
    assert.equal(loadConfig({ PUBLIC_URL: 'https://auth.example.com/base' }).auth.mfa.issuerName, 'auth.example.com')
  })

  it('production refuses to start without it once a user has TOTP; with it, it starts and the user logs in', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mfa-prod-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const DATABASE_URL = `sqlite:${join(dir, 'app.db')}`
    const JWT_SECRET = randomBytes(32).toString('hex')
    const dev = await createApp(testConfig({ DATABASE_URL, JWT_SECRET }))
    const { user, totp } = await mfaUser(dev)
    await dev.close()

    await assert.rejects(createApp(testConfig({ DATABASE_URL, JWT_SECRET, NODE_ENV: 'production' })), (error: Error) =>
      error instanceof ConfigError && /DATA_ENCRYPTION_KEY is required in production/.test(error.message))

    // The development secret was stored unencrypted ("plain:"); a key set later still reads it.
    const prod = await createApp(testConfig({ DATABASE_URL, JWT_SECRET, NODE_ENV: 'production', DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64') }))
    t.after(() => prod.close())
    const res = await passwordGrant(prod, user.username, PASSWORD, { otp: totp.generate() })
    assert.equal(res.statusCode, 200, res.body)
  })

  it('a development server without it warns when it listens', async (t) => {
    const lines: string[] = []
    const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const app = await createApp(await isolatedTestConfig({ LOG_LEVEL: 'warn' }), { logger: { level: 'warn', stream } })
    t.after(() => app.close())
    assert.ok(!lines.some(line => line.includes('DATA_ENCRYPTION_KEY')), 'not before it listens (the CLI never does)')
    await app.listen({ port: 0, host: '127.0.0.1' })
    assert.ok(lines.some(line => line.includes('DATA_ENCRYPTION_KEY unset')), lines.join('\n'))
  })
})

describe('users mfa-reset (CLI)', () => {
  it('turns a user\'s TOTP off on the server\'s database: the password alone logs in again', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mfa-cli-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const DATABASE_URL = `sqlite:${join(dir, 'app.db')}`
    const JWT_SECRET = randomBytes(32).toString('hex')
    const app = await createApp(testConfig({ DATABASE_URL, JWT_SECRET }))
    t.after(() => app.close())
    const { user } = await mfaUser(app)
    assert.equal((await passwordGrant(app, user.username)).statusCode, 403)

    const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, cli, 'users', 'mfa-reset', user.username], {
      env: { ...process.env, DATABASE_URL, JWT_SECRET }, cwd: dir, timeout: 60_000
    })
    assert.deepEqual(JSON.parse(stdout), { username: user.username, mfa_was_on: true })
    assert.equal((await passwordGrant(app, user.username)).statusCode, 200)
  })
})
