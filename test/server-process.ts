import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

// The real entry point: src/server.ts through tsx, or dist/src/server.js under npm test.
export const SERVER_ENTRY = fileURLToPath(new URL(`../src/server${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
/*
 * How long a child server may take to answer its first ready poll. A start takes about a second;
 * with the suite's files, Chromium and PostgreSQL sharing two cores it once took over 30 s.
 */
const READY_WITHIN_MS = 60_000
const PROJECT_ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url))

/**
 * The Node flags of `npm start` (package.json), so that server processes in tests and the
 * benchmark run as the server is shipped; a flag this Node does not know fails every such test.
 * @throws Error when the start script has no `node … dist/src/server.js`
 */
export const START_FLAGS: readonly string[] = (() => {
  const start = (JSON.parse(readFileSync(`${PROJECT_ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? ''
  const flags = /\bnode ((?:--\S+ )*)dist\/src\/server\.js/.exec(start)?.[1]
  if (flags === undefined) throw new Error(`cannot find "node … dist/src/server.js" in the start script: ${start}`)
  return flags.split(' ').filter(Boolean)
})()

export async function freePort (): Promise<number> {
  const probe = createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const address = probe.address()
  assert.ok(address !== null && typeof address === 'object')
  probe.close()
  await once(probe, 'close')
  return address.port
}

/** A child process that neither exited nor answered its first ready poll in time. */
export class NotReadyError extends Error {}

/** What Linux says a process is doing (state, kernel wait channel, threads, CPU ticks), for a diagnostic. */
function processState (pid: number | undefined): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '?'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return `state ${field('State')}, wchan ${readFileSync(`/proc/${pid}/wchan`, 'utf8') || '-'}, threads ${field('Threads')}, utime+stime ${Number(stat[11]) + Number(stat[12])} ticks`
  } catch {
    return 'unknown'
  }
}

/**
 * Starts `node <args>` in a process of its own and waits until `GET <base><readyPath>` answers
 * `readyStatus` (READY_WITHIN_MS at most). Stopped by its pid (SIGTERM, then SIGKILL after 15 s) when the
 * test ends. The process's last 20 kB of output are kept for error messages.
 */
export async function startProcess (t: TestContext, options: { args: string[], cwd: string, env: NodeJS.ProcessEnv, port: number, readyPath: string, readyStatus?: number }) {
  const child = spawn(process.execPath, options.args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-20_000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = once(child, 'exit')
  const alive = () => child.exitCode === null && child.signalCode === null
  t.after(async () => {
    if (!alive()) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
  })

  const base = `http://127.0.0.1:${options.port}`
  const started = Date.now()
  let lastPoll = 'no answer yet'
  for (;;) {
    if (!alive()) throw new Error(`server exited (${child.exitCode ?? child.signalCode}): ${output}`)
    if (Date.now() - started > READY_WITHIN_MS) {
      const state = processState(child.pid)
      child.kill('SIGKILL')
      throw new NotReadyError(`server not ready within ${READY_WITHIN_MS / 1000} s (last poll: ${lastPoll}; process: ${state}): ${output}`)
    }
    try {
      const res = await fetch(base + options.readyPath, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === (options.readyStatus ?? 200)) break
      lastPoll = `status ${res.status}`
    } catch (error) {
      lastPoll = String((error as Error).cause ?? error)
    }
    await sleep(100)
  }
  return {
    base,
    pid: child.pid,
    alive,
    output: () => output,
    /** Sends a signal to the server and resolves with how it exited (its exit code, or the signal that killed it). */
    async stop (signal: NodeJS.Signals = 'SIGTERM') {
      if (alive()) child.kill(signal)
      const [code, killedBy] = await exited as [number | null, NodeJS.Signals | null]
      return { code, signal: killedBy }
    }
  }
}

/**
 * Starts the server (the real entry point) in a process of its own (its own database
 * connections) and waits until /health answers 200. Stopped when the test ends.
 */
export async function startServerProcess (t: TestContext, env: Record<string, string>) {
  try {
    return await startServerProcessOnce(t, env)
  } catch (error) {
    // Seen twice in CI, never reproduced: a child that neither answered nor wrote a line in 60 s
    // while the suite loaded both cores. One more start, on a new port, with the first failure
    // (and the process's state from /proc) in the test's diagnostics.
    if (!(error instanceof NotReadyError)) throw error
    t.diagnostic(`first start failed, started again: ${error.message.slice(0, 500)}`)
    return await startServerProcessOnce(t, env)
  }
}

async function startServerProcessOnce (t: TestContext, env: Record<string, string>) {
  const port = await freePort()
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env
  }
  if (env.JWT_SECRET === undefined) delete childEnv.JWT_SECRET // EdDSA keys kept in the database
  // A working directory of its own: the server's ./data/outbox and ./.env are never the developer's.
  const cwd = mkdtempSync(join(tmpdir(), 'server-'))
  t.after(() => rmSync(cwd, { recursive: true, force: true }))
  return startProcess(t, { args: [...process.execArgv, ...START_FLAGS, SERVER_ENTRY], cwd, env: childEnv, port, readyPath: '/health' })
}
