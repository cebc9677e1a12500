/*
 * npm run bench [-- --smoke]: the product against the floor of its stack, in one run.
 * Starts the production server (SQLite on a temp file; then PostgreSQL too when DATABASE_URL
 * names one), a baseline app and the equal-output floor of GET /users/me (bench/equal-floor.ts,
 * twice: alone, and in a process beside the idle app), and the server with a claims hook and an
 * event listener (bench/server-with-hooks.ts; the last two not in the smoke run),
 * drives them with autocannon on 127.0.0.1 for a bounded time each, prints a table of figures
 * with their ratio to the baseline, and writes the raw numbers to bench-results/.
 * `-- --users-me`: only the GET /users/me scenarios; BENCH_SECONDS, BENCH_ROUNDS (5).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { verify as argonVerify } from '@node-rs/argon2'
import autocannon from 'autocannon'
import { loadConfig } from '../src/config.js'
import { hashPassword } from '../src/services/passwords.js'
import { START_FLAGS } from '../test/server-process.js'
import { children, mainThreadCpuMs, processCpuMs, serverEnv, start, startEqualFloor } from './harness.js'

const smoke = process.argv.includes('--smoke')
const seconds = Number(process.env.BENCH_SECONDS ?? (smoke ? 2 : 10))
const secret = randomBytes(32).toString('hex')
const password = 'bench password that is long enough'
const dir = mkdtempSync(join(tmpdir(), 'bench-'))
// --users-me: only the GET /users/me scenarios (0 and 1), for work on the per-request path.
const usersMeOnly = process.argv.includes('--users-me')
const loadRounds = Number(process.env.BENCH_ROUNDS ?? 5)

/** Peak resident set of a process we started (Linux: VmHWM). */
const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

type Options = Parameters<typeof autocannon>[0]
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length

type Load = { rps: number, p50: number, p99: number, non2xx: number, errors: number }
async function load (options: Options, duration = seconds): Promise<Load> {
  const result = await autocannon({ duration, connections: 10, ...options })
  return {
    rps: result.requests.total / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

type Target = { options: Options, pid: number }
type Measured = Load & { cpuMsPerRequest: number, rounds: Array<{ rps: number, cpuMsPerRequest: number }> }
/**
 * Drives each target for `seconds` in all, in interleaved rounds, so that a busy neighbour on
 * a shared host slows them all alike and their ratios hold; each target's server process CPU
 * is read around its rounds. Each is warmed up first (untimed), so the JIT has compiled its hot
 * path in every process before it is measured. Figures are medians of the rounds.
 */
async function compareLoads (targets: Target[], rounds = loadRounds): Promise<Measured[]> {
  for (const target of targets) await load(target.options, Math.max(1, seconds / 5))
  const runs: Array<Array<Load & { cpuMsPerRequest: number }>> = targets.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, target] of targets.entries()) {
      const before = processCpuMs(target.pid)
      const result = await load(target.options, seconds / rounds)
      const requests = result.rps * seconds / rounds
      runs[i]!.push({ ...result, cpuMsPerRequest: (processCpuMs(target.pid) - before) / Math.max(1, requests) })
    }
  }
  return runs.map(r => ({
    rps: median(r.map(x => x.rps)),
    p50: median(r.map(x => x.p50)),
    p99: Math.max(...r.map(x => x.p99)),
    non2xx: r.reduce((n, x) => n + x.non2xx, 0),
    errors: r.reduce((n, x) => n + x.errors, 0),
    cpuMsPerRequest: median(r.map(x => x.cpuMsPerRequest)),
    rounds: r.map(x => ({ rps: x.rps, cpuMsPerRequest: x.cpuMsPerRequest }))
  }))
}

async function json (url: string, init?: RequestInit) {
  const res = await fetch(url, init)
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<Record<string, string>>
}

async function medianMs (count: number, request: () => Promise<Response>) {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    const res = await request()
    await res.arrayBuffer()
    if (!res.ok) throw new Error(`request failed: ${res.status}`)
    times.push(performance.now() - start)
  }
  return times.sort((a, b) => a - b)[Math.floor(count / 2)]!
}

async function refreshStorm (url: string, sessions: Array<Record<string, string>>) {
  let ok = 0
  let failed = 0
  const until = Date.now() + seconds * 1000
  await Promise.all(sessions.map(async (session) => {
    let token = session.refresh_token!
    while (Date.now() < until) {
      const res = await fetch(`${url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }) })
      const body = await res.json() as Record<string, string>
      if (res.status !== 200) { failed++; return }
      ok++
      token = body.refresh_token!
    }
  }))
  return { rps: ok / seconds, non2xx: failed, errors: 0 }
}

/** Raw argon2id verifications per second with `parallel` in flight: the machine's limit for logins. */
async function argonRate (parallel: number, duration: number) {
  const hash = await hashPassword(password)
  let done = 0
  const until = Date.now() + duration * 1000
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (Date.now() < until) { await argonVerify(hash, password); done++ }
  }))
  return done / duration
}

async function main () {
  // As the server sizes it (config.ts): argon2 computations at once.
  const { UV_THREADPOOL_SIZE, PASSWORD_HASH_CONCURRENCY } = process.env
  const hashConcurrency = loadConfig({ UV_THREADPOOL_SIZE, PASSWORD_HASH_CONCURRENCY }).auth.passwordHashConcurrency
  const nodeFlags = START_FLAGS
  const postgresUrl = process.env.DATABASE_URL?.startsWith('postgres') === true ? process.env.DATABASE_URL : undefined
  const serverOn = (databaseUrl: string) => start('dist/src/server.js', serverEnv(secret, databaseUrl), '/health', nodeFlags)
  const sqliteFile = join(dir, 'bench.db')
  const server = await serverOn(`sqlite:${sqliteFile}`)
  // The baseline app also serves the floor route, reading the server's database file.
  const baseline = await start('dist/bench/baseline.js', { JWT_SECRET: secret, LOOKUP_DATABASE: sqliteFile }, '/token')

  const username = `bench${Date.now()}`
  await json(`${server.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })
  const loginBody = new URLSearchParams({ username, password }).toString()
  const login = () => json(`${server.url}/token`, { method: 'POST', body: new URLSearchParams({ username, password }) })
  const { access_token: token } = await login()
  const { token: baselineToken } = await json(`${baseline.url}/token`)
  // The equal-output floor: the server's JWT, headers and body, nothing else (bench/equal-floor.ts),
  // with the server's Node flags; checked to answer GET /users/me byte for byte as the server does.
  const equal = await startEqualFloor(server, serverEnv(secret, `sqlite:${sqliteFile}`), token!, nodeFlags)
  // The same floor in a process that has also built the whole app (idle): what the app's presence
  // costs. Not in the smoke run, which stays short.
  const beside = smoke ? undefined : await startEqualFloor(server, serverEnv(secret, `sqlite:${sqliteFile}`), token!, nodeFlags, { besideApp: true })
  // Which scenario makes the server's peak: VmHWM after each (stderr; the table has the final one).
  const peakAfter = (phase: string) => console.error(`server peak RSS after ${phase}: ${peakRssMb(server.child.pid!).toFixed(0)} MB`)
  peakAfter('start and one login')

  const rows: Row[] = []
  const add = (scenario: string, figure: string, value: number, base?: number, target?: string) =>
    rows.push({ scenario, figure, value, baseline: base, ratio: base ? value / base : undefined, target })

  // 0. one request at a time over HTTP (keep-alive): the median time a single client sees
  const n = smoke ? 50 : 500
  add('one GET /users/me', 'median ms', await medianMs(n, () => fetch(`${server.url}/users/me`, { headers: { authorization: `Bearer ${token}` } })),
    await medianMs(n, () => fetch(`${baseline.url}/me`, { headers: { authorization: `Bearer ${baselineToken}` } })))
  add('one POST /token', 'median ms', await medianMs(smoke ? 10 : 50, () => fetch(`${server.url}/token`, { method: 'POST', body: new URLSearchParams({ username, password }) })),
    await medianMs(n, () => fetch(`${baseline.url}/me`, { headers: { authorization: `Bearer ${baselineToken}` } })))

  // With DATABASE_URL=postgres://…: the same service on PostgreSQL too, measured in the same rounds.
  const startOnPostgres = async (databaseUrl: string) => {
    const pgServer = await serverOn(databaseUrl)
    const pgName = `benchpg${Date.now()}`
    await json(`${pgServer.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: pgName, password }) })
    const { access_token: pgToken } = await json(`${pgServer.url}/token`, { method: 'POST', body: new URLSearchParams({ username: pgName, password }) })
    return { url: pgServer.url, pid: pgServer.child.pid!, token: pgToken!, loginBody: new URLSearchParams({ username: pgName, password }).toString() }
  }
  const pg = postgresUrl === undefined ? undefined : await startOnPostgres(postgresUrl)

  /** Another server process on a database of its own, with a user logged in and the plain server's history. */
  async function startAnother (script: string, database: string, check?: (claims: Record<string, unknown>) => void) {
    const started = await start(script, serverEnv(secret, `sqlite:${join(dir, database)}`), '/health', nodeFlags)
    const name = `bench${database.replace(/\W/g, '')}${Date.now()}`
    await json(`${started.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: name, password }) })
    const { access_token: hookedToken } = await json(`${started.url}/token`, { method: 'POST', body: new URLSearchParams({ username: name, password }) })
    check?.(JSON.parse(Buffer.from(hookedToken!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>)
    // The plain server's history before the loads (scenario 0: single requests and logins), untimed:
    // a process that has run more kinds of work runs its hot path slower (see BENCHMARKS.md).
    await medianMs(n, () => fetch(`${started.url}/users/me`, { headers: { authorization: `Bearer ${hookedToken}` } }))
    await medianMs(50, () => fetch(`${started.url}/token`, { method: 'POST', body: new URLSearchParams({ username: name, password }) }))
    return { url: started.url, pid: started.child.pid!, token: hookedToken! }
  }

  // The server with a claims hook and an event listener (bench/server-with-hooks.ts), on a database
  // of its own; its tokens carry the hook's claim. Not in the smoke run either.
  const hookRan = (claims: Record<string, unknown>) => {
    if (typeof claims.tenant !== 'string') throw new Error('server-with-hooks: the claims hook did not run (no tenant claim)')
  }
  const hooked = smoke ? undefined : await startAnother('dist/bench/server-with-hooks.js', 'hooks.db', hookRan)
  // BENCH_COMPARE_SERVER=<another build>/dist/src/server.js: that build measured in the same rounds
  // (before/after a change on the per-request path; its node_modules must resolve from its folder).
  const compareScript = process.env.BENCH_COMPARE_SERVER
  const compared = compareScript === undefined ? undefined : await startAnother(compareScript, 'compare.db')

  // 1. GET /users/me beside the baseline route (BENCH_ROUNDS interleaved rounds, 50 connections),
  // the floor of one session lookup and the equal-output floors: req/s and CPU per request.
  const get = (url: string, bearer: string) => ({ url, headers: { authorization: `Bearer ${bearer}` }, connections: 50 })
  const measured = await compareLoads([
    { options: get(`${baseline.url}/me`, baselineToken!), pid: baseline.child.pid! },
    { options: get(`${baseline.url}/me-with-lookup`, token!), pid: baseline.child.pid! },
    { options: get(`${equal.url}/users/me`, token!), pid: equal.child.pid! },
    { options: get(`${server.url}/users/me`, token!), pid: server.child.pid! },
    ...beside === undefined ? [] : [{ options: get(`${beside.url}/users/me`, token!), pid: beside.child.pid! }],
    ...hooked === undefined ? [] : [{ options: get(`${hooked.url}/users/me`, hooked.token), pid: hooked.pid }],
    ...compared === undefined ? [] : [{ options: get(`${compared.url}/users/me`, compared.token), pid: compared.pid }],
    ...pg === undefined ? [] : [{ options: get(`${pg.url}/users/me`, pg.token), pid: pg.pid }]
  ])
  const [base1, floor, equalFloor, me] = measured.splice(0, 4) as [Measured, Measured, Measured, Measured]
  const besideFloor = beside === undefined ? undefined : measured.shift()
  const hookedMe = hooked === undefined ? undefined : measured.shift()
  const comparedMe = compared === undefined ? undefined : measured.shift()
  const pgMe = pg === undefined ? undefined : measured.shift()
  if ([floor, equalFloor, besideFloor, me, hookedMe, comparedMe, pgMe].some(r => r !== undefined && r.non2xx + r.errors > 0)) throw new Error('GET /users/me or a floor route answered with errors')
  add('GET /users/me', 'req/s', me.rps, base1.rps, '>= 0.65')
  add('GET /users/me', 'server CPU ms per request', me.cpuMsPerRequest, base1.cpuMsPerRequest, '<= 1.5')
  add('GET /users/me', 'p50 ms', me.p50, base1.p50)
  add('GET /users/me', 'p99 ms', me.p99, base1.p99)
  add('floor: JWT + one session lookup', 'req/s', floor.rps, base1.rps)
  add('GET /users/me against the floor', 'req/s', me.rps, floor.rps)
  // The equal-output floor: the same JWT, headers and body; what /users/me costs beyond it is the product's own logic.
  const ratios = (of: Measured, against: Measured, figure: (m: { rps: number, cpuMsPerRequest: number }) => number) =>
    of.rounds.map((round, i) => figure(round) / figure(against.rounds[i]!))
  const perRound = (of: Measured, against: Measured, figure: (m: { rps: number, cpuMsPerRequest: number }) => number) =>
    ratios(of, against, figure).map(r => r.toFixed(2)).join(' ')
  const equalName = `equal-output floor: JWT + the same ${equal.headerCount} headers and ${equal.bodyBytes}-byte body`
  add(equalName, 'req/s', equalFloor.rps, base1.rps)
  add(equalName, 'server CPU ms per request', equalFloor.cpuMsPerRequest, base1.cpuMsPerRequest)
  add('GET /users/me against the equal-output floor', 'req/s', me.rps, equalFloor.rps)
  add('GET /users/me against the equal-output floor', 'server CPU ms per request', me.cpuMsPerRequest, equalFloor.cpuMsPerRequest, '<= 1.25')
  rows.push({ scenario: 'GET /users/me against the equal-output floor', figure: 'CPU: median of the per-round ratios', value: median(ratios(me, equalFloor, r => r.cpuMsPerRequest)), target: '<= 1.25' })
  if (besideFloor !== undefined) {
    add('equal-output floor beside the idle app (one process)', 'server CPU ms per request', besideFloor.cpuMsPerRequest, equalFloor.cpuMsPerRequest)
    add('GET /users/me against the floor beside the idle app', 'server CPU ms per request', me.cpuMsPerRequest, besideFloor.cpuMsPerRequest)
  }
  add('GET /users/me beyond the equal-output floor', 'CPU ms per request', me.cpuMsPerRequest - equalFloor.cpuMsPerRequest)
  if (hookedMe !== undefined) {
    const name = 'GET /users/me, claims hook + event listener, against the equal-output floor'
    add(name, 'server CPU ms per request', hookedMe.cpuMsPerRequest, equalFloor.cpuMsPerRequest, '<= 1.25')
    rows.push({ scenario: name, figure: 'CPU: median of the per-round ratios', value: median(ratios(hookedMe, equalFloor, r => r.cpuMsPerRequest)), target: '<= 1.25' })
    add('GET /users/me, claims hook + event listener, against GET /users/me', 'server CPU ms per request', hookedMe.cpuMsPerRequest, me.cpuMsPerRequest)
  }
  if (comparedMe !== undefined) {
    const name = `GET /users/me of ${compareScript!} against the equal-output floor`
    add(name, 'server CPU ms per request', comparedMe.cpuMsPerRequest, equalFloor.cpuMsPerRequest)
    rows.push({ scenario: name, figure: 'CPU: median of the per-round ratios', value: median(ratios(comparedMe, equalFloor, r => r.cpuMsPerRequest)) })
    add('GET /users/me of this build against that one', 'server CPU ms per request', me.cpuMsPerRequest, comparedMe.cpuMsPerRequest)
    console.error(`GET /users/me of this build per round, against ${compareScript!}: CPU ratios ${perRound(me, comparedMe, r => r.cpuMsPerRequest)}`)
  }
  console.error(`GET /users/me per round, against the JWT-only route: req/s ratios ${perRound(me, base1, r => r.rps)}; CPU ratios ${perRound(me, base1, r => r.cpuMsPerRequest)}`)
  console.error(`GET /users/me per round, against the equal-output floor: req/s ratios ${perRound(me, equalFloor, r => r.rps)}; CPU ratios ${perRound(me, equalFloor, r => r.cpuMsPerRequest)}`)
  if (besideFloor !== undefined) console.error(`the equal-output floor beside the idle app per round, against the equal-output floor: CPU ratios ${perRound(besideFloor, equalFloor, r => r.cpuMsPerRequest)}`)
  peakAfter('GET /users/me load')
  if (hookedMe !== undefined) console.error(`GET /users/me with a claims hook and a listener per round, against the equal-output floor: CPU ratios ${perRound(hookedMe, equalFloor, r => r.cpuMsPerRequest)}`)
  const pgMeRows = () => {
    if (pgMe === undefined) return
    add('GET /users/me on PostgreSQL (no cache)', 'req/s', pgMe.rps, base1.rps)
    add('GET /users/me on PostgreSQL (no cache)', 'server CPU ms per request', pgMe.cpuMsPerRequest, base1.cpuMsPerRequest)
  }
  if (usersMeOnly) {
    pgMeRows()
    return report(rows, { base1, floor, equalFloor, besideFloor, me, hookedMe, pgMe })
  }

  // 2. POST /token logins beside raw argon2id, and 3. GET /health during that storm, probed
  // at a steady 50 requests a second as a load balancer would (a flood would measure itself).
  // Interleaved in rounds, like the loads above.
  const loginStorm = (url: string, body: string) => load({
    url: `${url}/token`, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, connections: hashConcurrency * 4
  }, seconds / 3)
  const rounds = { rawArgon: [] as number[], logins: [] as Load[], health: [] as Load[], pgLogins: [] as Load[], mainThreadMs: [] as number[] }
  for (let round = 0; round < 3; round++) {
    rounds.rawArgon.push(await argonRate(hashConcurrency, seconds / 3))
    const cpuBefore = mainThreadCpuMs(server.child.pid!)
    const [logins, health] = await Promise.all([loginStorm(server.url, loginBody), load({ url: `${server.url}/health`, connections: 1, overallRate: 50 }, seconds / 3)])
    rounds.mainThreadMs.push(mainThreadCpuMs(server.child.pid!) - cpuBefore)
    rounds.logins.push(logins)
    rounds.health.push(health)
    if (pg !== undefined) rounds.pgLogins.push(await loginStorm(pg.url, pg.loginBody))
  }
  const rawArgon = mean(rounds.rawArgon)
  const logins = { rps: mean(rounds.logins.map(r => r.rps)), p99: Math.max(...rounds.logins.map(r => r.p99)) }
  const health = { p99: Math.max(...rounds.health.map(r => r.p99)) }
  add('POST /token (password)', 'req/s', logins.rps, rawArgon, '>= 0.90')
  add('POST /token (password)', 'p99 ms', logins.p99)
  // What a login costs the event loop besides argon2 (HTTP, queries, signing): CPU the hashes cannot use.
  const mainThreadShare = mean(rounds.mainThreadMs) / (seconds / 3 * 1000)
  add('POST /token: server main thread', 'CPU ms per login', mean(rounds.mainThreadMs) / (logins.rps * seconds / 3))
  add('POST /token: server main thread', 'share of the cores', mainThreadShare / cpus().length)
  add('GET /health during logins', 'p99 ms', health.p99, undefined, '< 20')
  peakAfter('the login storm')

  // 4. refresh-token rotation storm: each worker refreshes its own session, one request at a
  // time (a client must never refresh one token twice), for the same bounded time.
  const refresh = await refreshStorm(server.url, await Promise.all(Array.from({ length: 10 }, () => login())))
  add('refresh rotation', 'req/s', refresh.rps)
  add('refresh rotation', 'non-2xx + errors', refresh.non2xx + refresh.errors, undefined, '0')
  peakAfter('refresh rotation')

  // 4b. a login flood from 200 connections, past the argon2 queue bound (PASSWORD_HASH_QUEUE_LIMIT):
  // the excess is refused at once with 503 + Retry-After, the rest is served at argon2's pace.
  const flood = await autocannon({
    url: `${server.url}/token`, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: loginBody, connections: 200, duration: seconds / 2
  })
  const floodTotal = flood['2xx'] + flood.non2xx
  add('POST /token flood, 200 connections', 'served logins/s', flood['2xx'] / (seconds / 2), rawArgon)
  add('POST /token flood, 200 connections', 'share answered 503', flood.non2xx / Math.max(1, floodTotal))
  add('POST /token flood, 200 connections', 'p99 ms (all answers)', flood.latency.p99)
  peakAfter('the login flood')

  // 5. peak RSS of the server through the whole run
  add('server process', 'peak RSS MB', peakRssMb(server.child.pid!), undefined, '< 150')

  pgMeRows()
  if (pg !== undefined) add('POST /token on PostgreSQL', 'req/s', mean(rounds.pgLogins.map(r => r.rps)), logins.rps)
  report(rows, { base1, floor, equalFloor, besideFloor, me, hookedMe, pgMe, rounds, refresh })
}

type Row = { scenario: string, figure: string, value: number, baseline?: number, ratio?: number, target?: string }
/** Prints the table (stdout) and writes the raw numbers to bench-results/. */
function report (rows: Row[], raw: Record<string, unknown>) {
  const nodeFlags = START_FLAGS
  const { UV_THREADPOOL_SIZE, PASSWORD_HASH_CONCURRENCY } = process.env
  const hashConcurrency = loadConfig({ UV_THREADPOOL_SIZE, PASSWORD_HASH_CONCURRENCY }).auth.passwordHashConcurrency
  const postgresUrl = process.env.DATABASE_URL?.startsWith('postgres') === true ? process.env.DATABASE_URL : undefined
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
  const db = postgresUrl === undefined ? 'SQLite (file)' : 'SQLite (file); PostgreSQL rows: ratio to the SQLite figure'
  const setup = `${seconds} s per scenario${usersMeOnly ? ' (--users-me: GET /users/me scenarios only)' : ''}, ${loadRounds} rounds for the loads; server: node ${nodeFlags.join(' ')}, ${hashConcurrency} argon2 at once`
  console.log(`\n${machine}; ${db}; ${setup}\n`)
  console.log('| scenario | figure | value | baseline | ratio | target |\n|---|---|---|---|---|---|')
  const fmt = (n?: number) => n === undefined ? '' : n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3)
  for (const r of rows) console.log(`| ${r.scenario} | ${r.figure} | ${fmt(r.value)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.target ?? ''} |`)
  console.log('\nbaselines: GET /users/me, floor and one-request rows ← a bare Fastify route verifying an HS256 JWT (same machine, same run); ' +
    'floor ← that route plus one indexed session-and-user query on the driver; ' +
    'equal-output floor ← a bare Fastify route verifying the server\'s own token with its pins and key, answering with the same headers and body as GET /users/me ' +
    '(beside the idle app: the same, in a process that has also built the whole app); POST /token ← raw argon2id verifications/s, same parameters, as many at once as the server runs')

  mkdirSync('bench-results', { recursive: true })
  const file = join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ machine, db, setup, rows, raw }, null, 2))
  console.log(`raw numbers: ${file}`)
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  rmSync(dir, { recursive: true, force: true })
}
