import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { describeRun, PASSWORD, PROJECT_ROOT, run } from '../interop/helpers.js'
import { freePort, startProcess } from '../server-process.js'

/*
 * The package as an app that depends on it meets it: a clean clone of this repository is packed
 * (`npm ci`, `npm pack`: prepack builds dist), the tarball is installed from the npm registry's
 * point of view into a new app (examples/mount: the plugin with an app-declared scope, authRoutes
 * under /auth, a route of its own protected by that scope), the app is type-checked (strict,
 * NodeNext, no skipLibCheck) and run, and its requests answer as the contract says.
 * Slow (npm ci in the clone; on Node 20 npm compiles better-sqlite3 for the app): minutes.
 */

const MINUTE = 60_000

/** npm as the suite was started with (`npm test` sets npm_execpath), else the one on PATH. */
const NPM = process.env.npm_execpath?.endsWith('.js') === true ? [process.execPath, process.env.npm_execpath] : ['npm']
/** Our environment without what `npm test` sets for its own script (a nested npm must not take the repository for its project). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('npm_') && key !== 'INIT_CWD'))

const npm = (args: string[], cwd: string, timeoutMs: number) =>
  run(NPM[0]!, [...NPM.slice(1), ...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: ENV, timeoutMs })

/** Why the test cannot run here, or undefined: it needs the npm registry. */
async function unavailable (): Promise<string | undefined> {
  const config = await run(NPM[0]!, [...NPM.slice(1), 'config', 'get', 'registry'], { env: ENV, timeoutMs: 30_000 })
  const registry = config.code === 0 ? config.stdout.trim() : 'https://registry.npmjs.org/'
  try {
    const res = await fetch(new URL('fastify', registry.endsWith('/') ? registry : `${registry}/`), { method: 'HEAD', signal: AbortSignal.timeout(10_000) })
    if (!res.ok) return `the npm registry ${registry} answers ${res.status}`
  } catch (error) {
    return `the npm registry ${registry} cannot be reached (${(error as Error).message})`
  }
  return undefined
}

/**
 * The repository as a clean clone holds it: `git clone` of the committed HEAD. Where the
 * repository is no git work tree (scripts/test-on-node.sh runs the suite in a `git archive` of
 * HEAD, already clean), a copy without what installs and builds add.
 */
async function cleanSource (into: string): Promise<string> {
  const git = await run('git', ['-C', PROJECT_ROOT, 'rev-parse', '--is-inside-work-tree'], { timeoutMs: 30_000 })
  if (git.code === 0 && git.stdout.trim() === 'true') {
    const clone = await run('git', ['clone', '--quiet', '--no-hardlinks', PROJECT_ROOT, into], { timeoutMs: MINUTE })
    assert.equal(clone.code, 0, `git clone: ${describeRun(clone)}`)
    return 'git clone'
  }
  const added = new Set(['node_modules', 'dist', 'data', 'test-artifacts', 'bench-results'])
  cpSync(PROJECT_ROOT, into, { recursive: true, filter: (path) => !added.has(basename(path)) && !path.endsWith('.tgz') })
  return 'a copy of a git archive'
}

interface PackResult { filename: string, size: number, unpackedSize: number, entryCount: number, files: Array<{ path: string, size: number }> }

/** A file of the temp app that must not compile if the package's types were loose. */
const TYPE_CHECKS = `// Written by test/package/outside-app.test.ts: every line below must be a type error.
import Fastify from 'fastify'
import auth from 'fastify-oauth2-jwt'

const app = Fastify()
// @ts-expect-error a lifetime is a number of seconds
await app.register(auth, { accessTokenTtlSeconds: 'x' })
// @ts-expect-error no such option
await app.register(auth, { accessTokenTTL: 900 })
// @ts-expect-error authenticate takes a request
await app.authenticate(123)
app.get('/typed', async (request) => {
  // @ts-expect-error request.user.username is a string
  const username: number = request.user.username
  return username
})
`

/** Starts the built app on a free port; stopped (by its pid) when the test ends. */
async function startApp (t: TestContext, dir: string) {
  const port = await freePort()
  const app = await startProcess(t, { args: [join(dir, 'dist', 'app.js')], cwd: dir, env: { ...ENV, PORT: String(port), LOG_LEVEL: 'warn' }, port, readyPath: '/reports', readyStatus: 401 })
  return app.base
}

async function call (base: string, path: string, init: { token?: string, form?: Record<string, string>, json?: unknown } = {}) {
  const headers: Record<string, string> = {}
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  let body: string | undefined
  if (init.form !== undefined) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(init.form).toString() }
  if (init.json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(init.json) }
  const res = await fetch(`${base}${path}`, { method: body === undefined ? 'GET' : 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, any>, wwwAuthenticate: res.headers.get('www-authenticate') }
}

describe('an app outside the package (examples/mount), from the tarball of a clean clone', () => {
  it('installs the tarball, type-checks under strict without skipLibCheck, and answers register, token, /auth/users/me and its own scoped route', { timeout: 10 * MINUTE }, async (t) => {
    const reason = await unavailable()
    if (reason !== undefined) { t.skip(reason); return }

    const work = mkdtempSync(join(tmpdir(), 'outside-app-'))
    t.after(() => rmSync(work, { recursive: true, force: true }))
    const source = join(work, 'clone')
    const how = await cleanSource(source)
    assert.equal(existsSync(join(source, 'dist')), false, 'a clean source has no dist')

    // --ignore-scripts: packing needs TypeScript, not the native modules the clone would compile.
    const ci = await npm(['ci', '--ignore-scripts', '--prefer-offline'], source, 3 * MINUTE)
    assert.equal(ci.code, 0, `npm ci: ${describeRun(ci)}`)
    const pack = await npm(['pack', '--json', '--pack-destination', work], source, 2 * MINUTE)
    assert.equal(pack.code, 0, `npm pack: ${describeRun(pack)}`)
    const packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as PackResult[])[0]!
    const paths = packed.files.map(f => f.path).sort()
    t.diagnostic(`${packed.filename} from ${how}: ${packed.size} bytes, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`)
    t.diagnostic(`files: ${paths.join(' ')}`)

    for (const path of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/schemas/index.d.ts', 'dist/plugins/auth/index.d.ts', 'dist/routes/auth/index.js', 'dist/src/cli.js']) {
      assert.ok(paths.includes(path), `the tarball has ${path}`)
    }
    const unexpected = paths.filter(p => !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(p) &&
      !(/^dist\/(src|plugins|routes)\/.+\.(js|d\.ts)$/.test(p)))
    assert.deepEqual(unexpected, [], 'the tarball holds only the built package, its README, LICENSE and CHANGELOG')

    // The app: examples/mount's files, and a file that must not compile if the types were loose.
    const app = join(work, 'app')
    mkdirSync(app)
    for (const file of ['package.json', 'tsconfig.json', 'src']) cpSync(join(source, 'examples', 'mount', file), join(app, file), { recursive: true })
    writeFileSync(join(app, 'src', 'type-checks.ts'), TYPE_CHECKS)
    const tsconfig = readFileSync(join(app, 'tsconfig.json'), 'utf8')
    assert.match(tsconfig, /"strict": true/)
    assert.match(tsconfig, /"skipLibCheck": false/)
    assert.match(tsconfig, /"moduleResolution": "NodeNext"/)

    const install = await npm(['install', join(work, packed.filename), 'fastify@5', 'typescript@~6.0.3', '@types/node@20', '--prefer-offline'], app, 5 * MINUTE)
    assert.equal(install.code, 0, `npm install: ${describeRun(install)}`)
    const tsc = await run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, env: ENV, timeoutMs: 2 * MINUTE })
    assert.equal(tsc.code, 0, `tsc in the app: ${describeRun(tsc)}`)

    const base = await startApp(t, app)
    const username = `outside${process.pid}`
    const registered = await call(base, '/auth/register', { json: { username, password: PASSWORD } })
    assert.equal(registered.status, 201, registered.text)
    assert.deepEqual(registered.json().scopes, ['me', 'items', 'reports'])

    const withReports = await call(base, '/auth/token', { form: { username, password: PASSWORD } })
    assert.equal(withReports.status, 200, withReports.text)
    assert.equal(withReports.json().scope, 'me items reports')
    const withoutReports = await call(base, '/auth/token', { form: { username, password: PASSWORD, scope: 'me' } })
    assert.equal(withoutReports.status, 200, withoutReports.text)
    assert.equal(withoutReports.json().scope, 'me')

    const me = await call(base, '/auth/users/me', { token: withoutReports.json().access_token })
    assert.equal(me.status, 200, me.text)
    assert.equal(me.json().username, username)

    const reports = await call(base, '/reports', { token: withReports.json().access_token })
    assert.equal(reports.status, 200, reports.text)
    assert.equal(reports.json().reader, username)
    const refused = await call(base, '/reports', { token: withoutReports.json().access_token })
    assert.equal(refused.status, 403, refused.text)
    assert.match(refused.wwwAuthenticate ?? '', /^Bearer error="insufficient_scope", scope="reports"/)
    const anonymous = await call(base, '/reports')
    assert.equal(anonymous.status, 401, anonymous.text)
    assert.equal(anonymous.wwwAuthenticate, 'Bearer')
  })
})
