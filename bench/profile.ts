/*
 * node dist/bench/profile.js (after npm run build): where GET /users/me's CPU goes beyond the
 * equal-output floor's. Starts the production server (SQLite, as bench/run.ts does) and the
 * equal-output floor (bench/equal-floor.ts), drives GET /users/me on each in interleaved rounds
 * (autocannon, 50 connections, 127.0.0.1), profiles each process during its own rounds only, and
 * prints per request, in µs, beside the floor's: the CPU from /proc (all threads), the sampled
 * time by area (self) and inclusive time by area and by function, with each row's share of the
 * difference. Raw profiles are kept in bench-results/profile-<time>/.
 *
 * PROFILE_TOOL=perf (the default): `perf record -e cpu-clock -g` on nodes started with
 * --perf-basic-prof: CPU time, kernel and native code included, every thread; functions V8
 * inlined count as their caller. PROFILE_TOOL=v8: `node --cpu-prof` (inlined functions are seen,
 * but V8's sampler ticks on the wall clock: on a busy two-core host a thread preempted in a system
 * call goes on collecting samples there, so system calls that wake another process look dearer).
 * PROFILE_SECONDS (20): load per process, in all; PROFILE_ROUNDS (4); PROFILE_HZ (4000, perf)
 * or PROFILE_INTERVAL_US (250, v8); PROFILE_SERVER_ENV: extra environment for the server (JSON);
 * PROFILE_SERVER: another build's server.js to profile (default dist/src/server.js).
 */
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import autocannon from 'autocannon'
import { START_FLAGS } from '../test/server-process.js'
import { summarize, type Summary, type Window } from './cpuprofile.js'
import { children, processCpuMs, serverEnv, start, startEqualFloor, stop } from './harness.js'
import { keepLatestPerfMapEntries, summarizePerf } from './perf-summary.js'

const tool = process.env.PROFILE_TOOL ?? 'perf'
const seconds = Number(process.env.PROFILE_SECONDS ?? 20)
const rounds = Number(process.env.PROFILE_ROUNDS ?? 4)
const hz = Number(process.env.PROFILE_HZ ?? 4000)
const interval = Number(process.env.PROFILE_INTERVAL_US ?? 250)
const serverScript = process.env.PROFILE_SERVER ?? 'dist/src/server.js'
const extraEnv = JSON.parse(process.env.PROFILE_SERVER_ENV ?? '{}') as Record<string, string>
const secret = randomBytes(32).toString('hex')
const password = 'bench password that is long enough'
const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'))
const out = resolve('bench-results', `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`)
const nowUs = () => Number(process.hrtime.bigint() / 1000n)

type Side = { name: string, url: string, pid: number, windows: Window[], requests: number, cpuMs: number, profiles: string[] }

/** Runs `perf record` on `pid` around `during`, into `file`. */
async function perfRecord<T> (pid: number, file: string, during: () => Promise<T>): Promise<T> {
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(hz), '-g', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise(resolve => perf.once('exit', resolve))
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise(resolve => setTimeout(resolve, 20))
  await new Promise(resolve => setTimeout(resolve, 200)) // attached to every thread
  try {
    return await during()
  } finally {
    perf.kill('SIGINT')
    await exited
  }
}

function merge (summaries: Summary[]): Summary {
  const sum = (maps: Array<Map<string, number>>) => {
    const total = new Map<string, number>()
    for (const map of maps) for (const [k, v] of map) total.set(k, (total.get(k) ?? 0) + v)
    return total
  }
  return {
    busyMs: summaries.reduce((n, s) => n + s.busyMs, 0),
    idleMs: summaries.reduce((n, s) => n + s.idleMs, 0),
    self: sum(summaries.map(s => s.self)),
    areaInclusive: sum(summaries.map(s => s.areaInclusive)),
    functionInclusive: sum(summaries.map(s => s.functionInclusive)),
    functionSelf: sum(summaries.map(s => s.functionSelf)),
    components: sum(summaries.map(s => s.components)),
    exchange: sum(summaries.map(s => s.exchange))
  }
}

async function main () {
  if (tool !== 'perf' && tool !== 'v8') throw new Error(`PROFILE_TOOL: perf or v8, not ${tool}`)
  if (tool === 'perf' && spawnSync('perf', ['--version']).status !== 0) throw new Error('perf is not installed (or use PROFILE_TOOL=v8)')
  const flags = (name: string) => tool === 'perf'
    ? [...START_FLAGS, '--perf-basic-prof']
    : [...START_FLAGS, '--cpu-prof', `--cpu-prof-dir=${join(out, name)}`, `--cpu-prof-interval=${interval}`]
  const env = { ...serverEnv(secret, `sqlite:${join(dir, 'bench.db')}`), ...extraEnv }
  const server = await start(serverScript, env, '/health', flags('server'))
  const username = `bench${Date.now()}`
  const post = async (path: string, init: RequestInit) => {
    const res = await fetch(server.url + path, { method: 'POST', ...init })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return res.json() as Promise<Record<string, string>>
  }
  await post('/register', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  const { access_token: token } = await post('/token', { body: new URLSearchParams({ username, password }) })
  const floor = await startEqualFloor(server, env, token!, flags('floor'))

  const sides: Side[] = [
    { name: 'floor', url: `${floor.url}/users/me`, pid: floor.child.pid!, windows: [], requests: 0, cpuMs: 0, profiles: [] },
    { name: 'server', url: `${server.url}/users/me`, pid: server.child.pid!, windows: [], requests: 0, cpuMs: 0, profiles: [] }
  ]
  const drive = (side: Side, duration: number) =>
    autocannon({ url: side.url, headers: { authorization: `Bearer ${token}` }, connections: 50, duration })
  for (const side of sides) await drive(side, Math.max(2, seconds / 5)) // warm-up, not profiled
  for (let round = 0; round < rounds; round++) {
    for (const side of sides) {
      const measured = async () => {
        const cpuBefore = processCpuMs(side.pid)
        const from = nowUs()
        const result = await drive(side, seconds / rounds)
        side.windows.push({ from, to: nowUs() })
        side.cpuMs += processCpuMs(side.pid) - cpuBefore
        side.requests += result.requests.total
        if (result.non2xx + result.errors > 0) throw new Error(`${side.name}: ${result.non2xx} non-2xx, ${result.errors} errors`)
      }
      if (tool === 'perf') {
        const file = join(out, `${side.name}-${round}.perf.data`)
        side.profiles.push(file)
        await perfRecord(side.pid, file, measured)
      } else {
        await measured()
      }
    }
  }
  await stop(server.child)
  await stop(floor.child)

  const summaries = sides.map(side => {
    if (tool === 'perf') {
      keepLatestPerfMapEntries(`/tmp/perf-${side.pid}.map`)
      // kept beside the recordings: copied back to /tmp, it lets `perf report` name the JIT code again
      copyFileSync(`/tmp/perf-${side.pid}.map`, join(out, `perf-${side.pid}.map`))
      return merge(side.profiles.map(file => {
        const script = spawnSync('perf', ['script', '-F', 'comm,tid,period,ip,sym,dso', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30 })
        if (script.status !== 0) throw new Error(`perf script ${file}: ${script.stderr}`)
        return summarizePerf(script.stdout, side.pid)
      }))
    }
    const files = readdirSync(join(out, side.name)).filter(f => f.endsWith('.cpuprofile'))
    if (files.length !== 1) throw new Error(`${join(out, side.name)}: expected one profile, found ${files.length}`)
    return summarize(join(out, side.name, files[0]!), side.windows)
  }) as [Summary, Summary]
  for (const side of sides) rmSync(`/tmp/perf-${side.pid}.map`, { force: true })

  const [floorSide, meSide] = sides as [Side, Side]
  const [sf, sm] = summaries
  const us = (ms: number | undefined, side: Side) => (ms ?? 0) * 1000 / side.requests
  const f1 = (n: number) => n.toFixed(1)
  console.log(`\nserver: ${serverScript}`)
  const what = tool === 'perf' ? `perf cpu-clock at ${hz} Hz, every thread` : `node --cpu-prof every ${interval} µs, main thread, wall clock`
  console.log(`\nGET /users/me against the equal-output floor, ${seconds} s each in ${rounds} interleaved rounds, 50 connections; ${what}; profiles in ${out}\n`)
  console.log('| per request | floor | GET /users/me | difference |\n|---|---|---|---|')
  const cpuFloor = floorSide.cpuMs * 1000 / floorSide.requests
  const cpuMe = meSide.cpuMs * 1000 / meSide.requests
  console.log(`| requests/s | ${(floorSide.requests / seconds).toFixed(0)} | ${(meSide.requests / seconds).toFixed(0)} | ratio ${(meSide.requests / floorSide.requests).toFixed(2)} |`)
  console.log(`| CPU µs, all threads (/proc) | ${f1(cpuFloor)} | ${f1(cpuMe)} | ${f1(cpuMe - cpuFloor)} (ratio ${(cpuMe / cpuFloor).toFixed(2)}) |`)
  const total = us(sm.busyMs, meSide) - us(sf.busyMs, floorSide)
  console.log(`| sampled µs | ${f1(us(sf.busyMs, floorSide))} | ${f1(us(sm.busyMs, meSide))} | ${f1(total)} (ratio ${(us(sm.busyMs, meSide) / us(sf.busyMs, floorSide)).toFixed(2)}) |`)

  const table = (title: string, pick: (s: Summary) => Map<string, number>, limit: number, filter: (key: string) => boolean = () => true) => {
    const keys = new Set([...pick(sf).keys(), ...pick(sm).keys()].filter(filter))
    const rows = [...keys].map(key => {
      const a = us(pick(sf).get(key), floorSide)
      const b = us(pick(sm).get(key), meSide)
      return { key, a, b, d: b - a }
    }).sort((x, y) => Math.max(Math.abs(y.d), y.b) - Math.max(Math.abs(x.d), x.b)).slice(0, limit)
    console.log(`\n${title}\n\n| µs per request | floor | GET /users/me | difference | share of the difference |\n|---|---|---|---|---|`)
    for (const r of rows) console.log(`| ${r.key.replaceAll('|', '\\|')} | ${f1(r.a)} | ${f1(r.b)} | ${f1(r.d)} | ${(100 * r.d / total).toFixed(0)}% |`)
  }
  table('By component (the innermost frame a component names; bench/cpuprofile.ts COMPONENTS)', s => s.components, 30)
  table('The HTTP exchange, by the code that ran (the kernel, or the innermost JavaScript area)', s => s.exchange, 20)
  table('Self time by area (where the samples were)', s => s.self, 30)
  table('Inclusive time by area (on the stack)', s => s.areaInclusive, 30)
  table('Inclusive time of our functions (dist/src, dist/plugins, dist/routes)', s => s.functionInclusive, 40, key => / \((src|plugins|routes)\//.test(key))
  table('Inclusive time by function', s => s.functionInclusive, 80)
  table('Self time by function', s => s.functionSelf, 50)
}

try {
  mkdirSync(out, { recursive: true })
  await main()
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}
