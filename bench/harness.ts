/*
 * What bench/run.ts and bench/profile.ts share: starting our processes on 127.0.0.1, reading
 * their CPU time from /proc, and the equal-output floor (bench/equal-floor.ts) started beside a
 * running server and checked to answer exactly as its GET /users/me does.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadConfig } from '../src/config.js'
import { freePort } from '../test/server-process.js'

export const children: ChildProcess[] = []

export type Started = { child: ChildProcess, url: string, port: number }

/** Starts a process of ours and waits until `readyPath` answers 200. */
export async function start (script: string, env: Record<string, string>, readyPath: string, nodeFlags: readonly string[] = []): Promise<Started> {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeFlags, script], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`)
    if (await fetch(url + readyPath).then(r => r.ok, () => false)) return { child, url, port }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${script} did not start`)
}

/** Stops a process of ours (SIGTERM) and waits until it has exited (a --cpu-prof profile is written by then). */
export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** CPU time of a whole process (all threads), in ms: utime + stime in clock ticks of 10 ms. */
export const processCpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** CPU time of a process's main thread, in ms (Linux: utime + stime, in clock ticks of 10 ms). */
export const mainThreadCpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** The environment the bench gives the production server (beside DATABASE_URL). */
export const serverEnv = (secret: string, databaseUrl: string): Record<string, string> => ({
  NODE_ENV: 'production',
  DATABASE_URL: databaseUrl,
  JWT_SECRET: secret,
  LOG_LEVEL: 'warn',
  TOKEN_RATE_LIMIT: '0',
  LOGIN_USERNAME_RATE_LIMIT: '0'
})

// Not part of what a response says: hop-by-hop, the clock, and what Fastify sets by itself.
const UNCOMPARED = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-type'])
const comparable = (headers: Headers) => Object.fromEntries([...headers].filter(([name]) => !UNCOMPARED.has(name)))

async function answer (url: string, token: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, headers: comparable(res.headers), contentType: res.headers.get('content-type'), body: await res.text() }
}

/**
 * Starts the equal-output floor (bench/equal-floor.ts) for a server started with `env` on
 * `server.port`: it verifies the server's tokens with the same key and pins, and answers with the
 * headers and body the server's own GET /users/me gives `token`. Then checks that both answer
 * that request identically (status, every header but the date and hop-by-hop ones, body bytes),
 * and that both refuse a token with a bad signature. `besideApp`: the floor's process also builds
 * the whole app, idle (bench/equal-floor.ts, FLOOR_BESIDE_APP).
 * @throws Error when the two answers differ
 */
export async function startEqualFloor (server: Started, env: Record<string, string>, token: string, nodeFlags: readonly string[], options: { besideApp?: boolean } = {}) {
  const config = loadConfig({ ...process.env, ...env, PORT: String(server.port) })
  const real = await answer(`${server.url}/users/me`, token)
  if (real.status !== 200) throw new Error(`GET /users/me answered ${real.status}: ${real.body}`)
  const floor = await start('dist/bench/equal-floor.js', {
    // Beside the app: the app is built from the server's own environment.
    ...options.besideApp === true ? { ...env, FLOOR_BESIDE_APP: '1' } : {},
    JWT_SECRET: env.JWT_SECRET!,
    FLOOR_ISSUER: config.auth.jwt.issuer,
    FLOOR_AUDIENCE: config.auth.jwt.audience ?? config.auth.jwt.issuer,
    FLOOR_HEADERS: JSON.stringify(real.headers),
    FLOOR_BODY: real.body
  }, '/ready', nodeFlags)
  const mine = await answer(`${floor.url}/users/me`, token)
  const differences = [
    ...mine.status === real.status ? [] : [`status ${mine.status}`],
    ...mine.contentType === real.contentType ? [] : [`content-type ${mine.contentType}`],
    ...mine.body === real.body ? [] : [`body ${mine.body}`],
    ...[...new Set([...Object.keys(real.headers), ...Object.keys(mine.headers)])]
      .filter(name => real.headers[name] !== mine.headers[name]).map(name => `header ${name}: ${mine.headers[name]} (server: ${real.headers[name]})`)
  ]
  if (differences.length > 0) throw new Error(`the equal-output floor does not answer as GET /users/me: ${differences.join('; ')}`)
  const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'A'.repeat(43)
  const refusals = await Promise.all([answer(`${server.url}/users/me`, forged), answer(`${floor.url}/users/me`, forged)])
  if (refusals.some(r => r.status !== 401)) throw new Error(`a forged token was not refused: ${refusals.map(r => r.status).join(', ')}`)
  return { ...floor, bodyBytes: Buffer.byteLength(real.body), headerCount: Object.keys(real.headers).length }
}
