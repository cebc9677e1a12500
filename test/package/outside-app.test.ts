import { after, before, describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import { createDatabase } from '../../src/db/connection.js'
import { describeRun, PASSWORD, PROJECT_ROOT, run } from '../interop/helpers.js'
import { freePort, startProcess } from '../server-process.js'

/*
 * The package as an app that depends on it meets it: a clean clone of this repository is packed
 * (`npm ci`, `npm pack`: prepack builds dist), the tarball is installed from the npm registry's
 * point of view, once, into a directory holding two apps (their dependencies merged):
 * - examples/mount: the plugin with an app-declared scope, authRoutes under /auth, a route of its
 *   own protected by that scope;
 * - examples/extend: the plugin on a SQLite database of the app's, with user metadata, a hook
 *   refusing sign-ups, a claim in every token, a listener writing to the app's own table (its own
 *   Kysely migration), the mail plugin's recovery routes under /auth and the well-known routes.
 * Each app is type-checked (strict, NodeNext, no skipLibCheck, and lines that must be errors) and
 * run, and its requests answer as the contract says.
 * Slow (npm ci in the clone; on Node 20 npm compiles better-sqlite3 for the apps): minutes.
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

/** The examples the test installs and runs, as examples/<name> holds them. */
const EXAMPLES = ['mount', 'extend'] as const

/**
 * Starts a built example on a free port, with `env` added; stopped (by its pid) when the test
 * ends. Ready once `readyPath` answers 401 (a protected route: the whole app is registered).
 */
async function startApp (t: TestContext, dir: string, readyPath: string, env: Record<string, string> = {}) {
  const port = await freePort()
  const app = await startProcess(t, { args: [join(dir, 'dist', 'app.js')], cwd: dir, env: { ...ENV, ...env, PORT: String(port), LOG_LEVEL: 'warn' }, port, readyPath, readyStatus: 401 })
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

/** The decoded text of an .eml file the mail plugin wrote (quoted-printable: soft breaks, =XX). */
const decodeEml = (raw: string) => raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))

/** Calls `read` until it returns something other than undefined (every 100 ms, 15 s at most). */
async function poll<T> (what: string, read: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.fail(`${what}: not within 15 s`)
    await sleep(100)
  }
}

describe('apps outside the package (examples/mount, examples/extend), from the tarball of a clean clone', () => {
  /** Why the tests cannot run here (no npm registry), once `before` has looked. */
  let skipped: string | undefined
  let work = ''
  let packed: PackResult
  /** 'git clone' or 'a copy of a git archive' */
  let packedFrom = ''
  /** Where each example is installed: <apps>/<name>, beside the one node_modules of both. */
  let apps = ''

  before(async () => {
    skipped = await unavailable()
    if (skipped !== undefined) return

    work = mkdtempSync(join(tmpdir(), 'outside-app-'))
    const source = join(work, 'clone')
    const how = await cleanSource(source)
    assert.equal(existsSync(join(source, 'dist')), false, 'a clean source has no dist')

    // --ignore-scripts: packing needs TypeScript, not the native modules the clone would compile.
    const ci = await npm(['ci', '--ignore-scripts', '--prefer-offline'], source, 3 * MINUTE)
    assert.equal(ci.code, 0, `npm ci: ${describeRun(ci)}`)
    const pack = await npm(['pack', '--json', '--pack-destination', work], source, 2 * MINUTE)
    assert.equal(pack.code, 0, `npm pack: ${describeRun(pack)}`)
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as PackResult[])[0]!
    packedFrom = how

    // One install for both apps (one native build of better-sqlite3 on Node 20): their
    // dependencies merged into <apps>/package.json, each app in a directory below it, where
    // Node and tsc find <apps>/node_modules.
    apps = join(work, 'apps')
    mkdirSync(apps)
    const merged: Record<string, Record<string, string>> = { dependencies: {}, devDependencies: {} }
    for (const name of EXAMPLES) {
      const dir = join(apps, name)
      mkdirSync(dir)
      for (const file of ['package.json', 'tsconfig.json', 'src']) cpSync(join(source, 'examples', name, file), join(dir, file), { recursive: true })
      const tsconfig = readFileSync(join(dir, 'tsconfig.json'), 'utf8')
      assert.match(tsconfig, /"strict": true/, name)
      assert.match(tsconfig, /"skipLibCheck": false/, name)
      assert.match(tsconfig, /"moduleResolution": "NodeNext"/, name)
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
      for (const field of ['dependencies', 'devDependencies'] as const) {
        for (const [dependency, range] of Object.entries(manifest[field] ?? {})) {
          if (dependency === 'fastify-oauth2-jwt') continue // the tarball instead
          const other = merged[field]![dependency]
          assert.ok(other === undefined || other === range, `the examples ask for the same ${dependency} (${other} and ${range})`)
          merged[field]![dependency] = range
        }
      }
    }
    writeFileSync(join(apps, 'package.json'), JSON.stringify({ name: 'outside-apps', private: true, type: 'module', ...merged, allowScripts: { 'better-sqlite3': true } }, null, 2))
    const install = await npm(['install', join(work, packed.filename), 'fastify@5', 'typescript@~6.0.3', '@types/node@20', '--prefer-offline'], apps, 5 * MINUTE)
    assert.equal(install.code, 0, `npm install: ${describeRun(install)}`)
  }, { timeout: 10 * MINUTE })

  after(() => { if (work !== '') rmSync(work, { recursive: true, force: true }) })

  /** Compiles one installed example with its own tsconfig. */
  async function typeCheck (name: typeof EXAMPLES[number]) {
    const dir = join(apps, name)
    const tsc = await run(process.execPath, [join(apps, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, env: ENV, timeoutMs: 2 * MINUTE })
    assert.equal(tsc.code, 0, `tsc in examples/${name}: ${describeRun(tsc)}`)
    return dir
  }

  it('packs only the built package, its README, LICENSE and CHANGELOG', (t) => {
    if (skipped !== undefined) { t.skip(skipped); return }
    const paths = packed.files.map(f => f.path).sort()
    t.diagnostic(`${packed.filename} from ${packedFrom}: ${packed.size} bytes, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`)
    t.diagnostic(`files: ${paths.join(' ')}`)
    for (const path of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/schemas/index.d.ts', 'dist/plugins/auth/index.d.ts', 'dist/routes/auth/index.js', 'dist/src/cli.js']) {
      assert.ok(paths.includes(path), `the tarball has ${path}`)
    }
    const unexpected = paths.filter(p => !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(p) &&
      !(/^dist\/(src|plugins|routes)\/.+\.(js|d\.ts)$/.test(p)))
    assert.deepEqual(unexpected, [], 'the tarball holds only the built package, its README, LICENSE and CHANGELOG')
  })

  it('examples/mount type-checks under strict without skipLibCheck, and answers register, token, /auth/users/me and its own scoped route', { timeout: 3 * MINUTE }, async (t) => {
    if (skipped !== undefined) { t.skip(skipped); return }
    // Beside the example's files, a file that must not compile if the package's types were loose.
    writeFileSync(join(apps, 'mount', 'src', 'type-checks.ts'), TYPE_CHECKS)
    const dir = await typeCheck('mount')

    const base = await startApp(t, dir, '/reports')
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

  it('examples/extend type-checks its merged types, and shows metadata, a refused sign-up, the tenant claim, its listener\'s row in its own table, the recovery routes under /auth and the RFC 8414 metadata', { timeout: 3 * MINUTE }, async (t) => {
    if (skipped !== undefined) { t.skip(skipped); return }
    // src/type-checks.ts of the example holds the lines that must be errors.
    assert.match(readFileSync(join(apps, 'extend', 'src', 'type-checks.ts'), 'utf8'), /@ts-expect-error/)
    const dir = await typeCheck('extend')

    const data = join(work, 'extend-data')
    const database = join(data, 'app.db')
    const outbox = join(data, 'outbox')
    const base = await startApp(t, dir, '/workspace', { DATABASE_URL: `sqlite:${database}`, OUTBOX_DIR: outbox })

    // hooks.beforeUserCreated: the refusal's message is the 400's, and nothing is stored.
    const username = `extend${process.pid}`
    const email = `${username}@example.com`
    const closed = await call(base, '/auth/register', { json: { username, password: PASSWORD, metadata: { tenant: 'initech' } } })
    assert.equal(closed.status, 400, closed.text)
    assert.equal(closed.json().message, 'Sign-ups to initech are closed')
    // userMetadata: required by the app's schema, and stored with the user.
    const withoutMetadata = await call(base, '/auth/register', { json: { username, password: PASSWORD } })
    assert.equal(withoutMetadata.status, 400, withoutMetadata.text)
    const registered = await call(base, '/auth/register', { json: { username, email, password: PASSWORD, metadata: { tenant: 'acme', plan: 'pro' } } })
    assert.equal(registered.status, 201, registered.text)
    const userId = registered.json().id as string
    assert.deepEqual(registered.json().metadata, { tenant: 'acme', plan: 'pro' })

    // hooks.accessTokenClaims: the tenant in the access token, at login and at refresh.
    const login = await call(base, '/auth/token', { form: { username, password: PASSWORD } })
    assert.equal(login.status, 200, login.text)
    assert.equal(decodeJwt(login.json().access_token).tenant, 'acme')
    const refreshed = await call(base, '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: login.json().refresh_token } })
    assert.equal(refreshed.status, 200, refreshed.text)
    assert.equal(decodeJwt(refreshed.json().access_token).tenant, 'acme')

    // The user.created listener writes the app's own row (after the answer: polled), which the
    // app's protected route reads beside request.user.metadata.
    const accessToken = refreshed.json().access_token as string
    const workspace = await poll('the profiles row of the user.created listener', async () => {
      const res = await call(base, '/workspace', { token: accessToken })
      assert.equal(res.status, 200, res.text)
      return res.json().profile === null ? undefined : res.json()
    })
    assert.equal(workspace.tenant, 'acme')
    assert.equal(workspace.plan, 'pro')
    assert.deepEqual({ ...workspace.profile, created_at: undefined }, { user_id: userId, tenant: 'acme', plan: 'pro', created_at: undefined })
    assert.equal((await call(base, '/workspace')).status, 401)

    // One database, two migration tables: the app's Migrator in Kysely's default, the plugin's in its own.
    const { db } = createDatabase(`sqlite:${database}`)
    try {
      const names = async (table: string) => (await sql<{ name: string }>`select name from ${sql.table(table)} order by name`.execute(db)).rows.map(r => r.name)
      assert.deepEqual(await names('kysely_migration'), ['app_0001_profiles'])
      const plugin = await names('auth_migration')
      assert.ok(plugin.includes('0001_initial') && !plugin.includes('app_0001_profiles'), plugin.join(' '))
    } finally {
      await db.destroy()
    }

    // The recovery routes under /auth: the reset e-mail (an .eml in OUTBOX_DIR) links under /auth,
    // and its token sets a new password there.
    const forgot = await call(base, '/auth/forgot-password', { json: { email } })
    assert.equal(forgot.status, 202, forgot.text)
    const link = await poll('the reset e-mail', () => {
      for (const file of existsSync(outbox) ? readdirSync(outbox).filter(f => f.endsWith('.eml')) : []) {
        const found = /https?:\/\/\S+\/reset-password\?token=[\w-]+/.exec(decodeEml(readFileSync(join(outbox, file), 'utf8')))
        if (found !== null) return new URL(found[0])
      }
      return undefined
    })
    assert.equal(`${link.origin}${link.pathname}`, `${base}/auth/reset-password`)
    const reset = await call(base, '/auth/reset-password', { json: { token: link.searchParams.get('token'), password: 'a new passphrase for extend' } })
    assert.equal(reset.status, 204, reset.text)
    const afterReset = await call(base, '/auth/token', { form: { username, password: 'a new passphrase for extend' } })
    assert.equal(afterReset.status, 200, afterReset.text)

    // RFC 8414 at the root, naming the token endpoint where authRoutes serves it.
    const metadata = await call(base, '/.well-known/oauth-authorization-server')
    assert.equal(metadata.status, 200, metadata.text)
    assert.equal(metadata.json().issuer, base)
    assert.equal(metadata.json().token_endpoint, `${base}/auth/token`)
  })
})
