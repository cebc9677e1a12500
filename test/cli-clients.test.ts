import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createApp } from '../src/app.js'
import { exchange, obtainCode } from './authorization-helpers.js'
import { registerUser, testConfig } from './helper.js'

// Runs the CLI as a user would: compiled (npm test) or through tsx, like this file.
const cli = fileURLToPath(new URL(`../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const run = promisify(execFile)

describe('CLI: clients', () => {
  it('clients add registers public and confidential clients (the secret printed once, only its hash stored) that the server then knows', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-clients-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const databaseUrl = `sqlite:${join(dir, 'cli.db')}`
    const cliRun = async (...args: string[]) => {
      try {
        const { stdout, stderr } = await run(process.execPath, [...process.execArgv, cli, ...args], { env: { ...process.env, DATABASE_URL: databaseUrl }, cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' })
        return { code: 0, out: stdout, err: stderr }
      } catch (error) {
        const e = error as { code: number, stdout: string, stderr: string }
        return { code: e.code, out: e.stdout, err: e.stderr }
      }
    }

    const added = await cliRun('clients', 'add', 'backend', '--redirect-uri', 'https://backend.example.com/cb', '--confidential', '--first-party')
    assert.equal(added.code, 0, added.err)
    const backend = JSON.parse(added.out)
    assert.equal(backend.confidential, true)
    assert.match(backend.client_secret, /^[A-Za-z0-9_-]{43}$/)
    assert.match(added.err, /shown this once/)

    const refused = await cliRun('clients', 'add', 'bad', '--redirect-uri', 'http://evil.example/cb')
    assert.equal(refused.code, 1)
    assert.match(refused.err, /http is for loopback hosts only/)
    // URIs the URL parser rewrites: refused in one line, nothing registered.
    for (const [uri, message] of [['https://a.example/cb\nx', /whitespace or a control character/], ['http://127.1/cb', /reads it as http:\/\/127\.0\.0\.1\/cb/]] as const) {
      const rewritten = await cliRun('clients', 'add', 'rewritten', '--redirect-uri', uri)
      assert.equal(rewritten.code, 1, uri)
      assert.match(rewritten.err, message)
      assert.equal(rewritten.err.trim().split('\n').length, 1, rewritten.err)
    }
    const listed = await cliRun('clients', 'list')
    const clients = JSON.parse(listed.out) as Array<{ client_id: string }>
    assert.deepEqual(clients.map(c => c.client_id).sort(), ['backend', 'swagger-ui'])
    assert.ok(!listed.out.includes(backend.client_secret))

    // The server on the same database: the secret is stored only hashed, and it authenticates the client.
    const app = await createApp(testConfig({ DATABASE_URL: databaseUrl, TOKEN_RATE_LIMIT: '0' }))
    t.after(() => app.close())
    const [row] = await app.db.selectFrom('oauth_clients').selectAll().execute()
    assert.match(String(row?.secret_hash), /^sha256:[0-9a-f]{64}$/)
    assert.ok(!JSON.stringify(row).includes(backend.client_secret))
    const { user } = await registerUser(app)
    const client = { client_id: 'backend', redirect: 'https://backend.example.com/cb' }
    const first = await obtainCode(app, user.username, client)
    const fields = { code: first.code, redirect_uri: client.redirect, client_id: 'backend', code_verifier: first.verifier }
    assert.equal((await exchange(app, { ...fields, client_secret: 'wrong' })).statusCode, 401)
    const second = await obtainCode(app, user.username, client)
    const ok = await exchange(app, { code: second.code, redirect_uri: client.redirect, client_id: 'backend', code_verifier: second.verifier, client_secret: backend.client_secret })
    assert.equal(ok.statusCode, 200, ok.body)

    const duplicate = await cliRun('clients', 'add', 'backend', '--redirect-uri', 'https://backend.example.com/cb')
    assert.equal(duplicate.code, 1)
    assert.match(duplicate.err, /registered already/)
  })
})
