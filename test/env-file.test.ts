import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, SERVER_ENTRY, startProcess } from './server-process.js'

/*
 * CONTRACT.md: a `.env` file in the working directory is read at start, and variables already set
 * in the environment win (Node's process.loadEnvFile sets only unset variables: src/node_dotenv.cc,
 * Dotenv::SetEnvironment). The real entry point in a process of its own, started in a temporary
 * directory that holds a .env written the way .env.example is (inline comments, quotes).
 */

describe('.env', () => {
  it('is read from the working directory at start; a variable already set in the environment wins', { timeout: 60_000 }, async (t) => {
    const cwd = mkdtempSync(join(tmpdir(), 'env-file-'))
    t.after(() => rmSync(cwd, { recursive: true, force: true }))
    const [envPort, filePort] = [await freePort(), await freePort()]
    writeFileSync(join(cwd, '.env'), [
      '# written by test/env-file.test.ts',
      'JWT_ISSUER="https://from-dotenv.example"   # applies: the environment leaves it unset',
      'DATABASE_URL=sqlite:./from-dotenv.db        # applies, relative to the working directory',
      `PORT=${filePort}                             # loses: the environment sets PORT`,
      'LOG_LEVEL=warn',
      ''
    ].join('\n'))

    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(envPort), TOKEN_RATE_LIMIT: '0' }
    for (const key of ['JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_SECRET', 'DATABASE_URL', 'LOG_LEVEL']) delete env[key]
    // It listens on the environment's port (PORT from the environment won over the file's).
    const { base } = await startProcess(t, { args: [...process.execArgv, SERVER_ENTRY], cwd, env, port: envPort, readyPath: '/health' })
    await assert.rejects(fetch(`http://127.0.0.1:${filePort}/health`, { signal: AbortSignal.timeout(2000) }), 'nothing listens on the .env file\'s port')

    // The file's values for what the environment left unset.
    const metadata = await fetch(`${base}/.well-known/oauth-authorization-server`, { signal: AbortSignal.timeout(5000) })
    assert.equal(metadata.status, 200)
    assert.equal((await metadata.json() as { issuer: string }).issuer, 'https://from-dotenv.example')
    assert.ok(existsSync(join(cwd, 'from-dotenv.db')), 'the database named in .env, in the working directory')
  })
})
