import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startServerProcess } from '../server-process.js'

// The tests' one password (test/helper.ts), for the importers of this module.
export { PASSWORD } from '../helper.js'

/*
 * Shared by the interop tests: OAuth2 client libraries this project does not control, run
 * against the real server (src/server.ts, or dist/src/server.js under npm test) in a child process.
 */

/** The repository root, from test/interop (tsx) or dist/test/interop (npm test). */
export const PROJECT_ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../' : '../../../', import.meta.url))
/** Source files of the interop tests (fixtures are read from here under npm test too). */
export const INTEROP_DIR = join(PROJECT_ROOT, 'test', 'interop')

/**
 * The server in a process of its own, on a SQLite file of its own (removed afterwards), signing
 * with EdDSA (no JWT_SECRET: keys in the database, public halves at /.well-known/jwks.json).
 * The rate limits are the production defaults, not the test helper's 0: these tests are what a
 * client sees, and each one sends far fewer than 60 requests to /token, /token/revoke and
 * /register, and fewer than 10 password logins per username.
 */
export async function startInteropServer (t: TestContext, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'interop-'))
  try {
    return await startServerProcess(t, {
      DATABASE_URL: `sqlite:${join(dir, 'app.db')}`,
      TOKEN_RATE_LIMIT: '60',
      LOGIN_USERNAME_RATE_LIMIT: '10',
      ...env
    })
  } finally {
    // Registered after the server's own stop hook, so it runs once the server has exited.
    t.after(() => rmSync(dir, { recursive: true, force: true }))
  }
}

export const uniqueName = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`

export interface RunResult { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, error?: Error }

/**
 * Runs a command to its end (never rejects): exit code, signal, output. Killed with SIGKILL
 * after `timeoutMs`; a command that cannot start at all comes back with `error` (e.g. ENOENT).
 */
export function run (command: string, args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs: number }): Promise<RunResult> {
  return new Promise(resolve => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL'
    })
    let stdout = ''
    let stderr = ''
    let error: Error | undefined
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8') })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
    child.on('error', (err) => { error = err })
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ...(error === undefined ? {} : { error }) }))
  })
}

/** A one-line account of a finished command, for assertion messages. */
export const describeRun = (r: RunResult) =>
  `exit ${r.code ?? r.signal}${r.error === undefined ? '' : ` (${r.error.message})`}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected the call to be rejected')
}
