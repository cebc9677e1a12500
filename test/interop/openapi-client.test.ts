import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript'
import { PASSWORD } from '../helper.js'
import { call } from '../http-client.js'
import { describeRun, PROJECT_ROOT, run, startInteropServer, uniqueName } from './helpers.js'

/*
 * A typed client generated from the server's own /openapi.json, as an app would make one:
 * openapi-typescript (https://openapi-ts.dev) writes the types, a small program calls the
 * server through openapi-fetch with them, the repository's TypeScript checks that program
 * under --strict, and node runs it against the real server.
 */

type Json = Record<string, any>
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']

/**
 * The client program. Kept here and written at test time next to the generated schema.ts (a file
 * under test/ importing a schema that does not exist yet would break the repository's build).
 * Type errors fail the test: the paths, the form body of /token and the shapes of the answers
 * must all come out of the generated types.
 */
const PROGRAM = `import createClient from 'openapi-fetch'
import type { paths } from './schema.js'

const [baseUrl, username, password] = process.argv.slice(2) as [string, string, string]
const client = createClient<paths>({ baseUrl })

// POST /token takes application/x-www-form-urlencoded: openapi-fetch sends JSON unless told.
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
function formBody (body: Record<string, string | undefined>): string {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(body)) if (value !== undefined) params.set(name, value)
  return params.toString()
}

const registered = await client.POST('/register', { body: { username, password } })
if (registered.data === undefined) throw new Error('register: ' + registered.response.status + ' ' + JSON.stringify(registered.error))
const userId: string = registered.data.id

const refused = await client.POST('/token', {
  body: { grant_type: 'password', username, password: password + ' not' },
  headers: FORM,
  bodySerializer: formBody
})
if (refused.error === undefined) throw new Error('a wrong password was accepted')
const refusedError = refused.error

const login = await client.POST('/token', {
  body: { grant_type: 'password', username, password, scope: 'me' },
  headers: FORM,
  bodySerializer: formBody
})
if (login.data === undefined) throw new Error('login: ' + login.response.status + ' ' + JSON.stringify(login.error))
const tokens = login.data
const tokenType: 'bearer' = tokens.token_type
const expiresIn: number = tokens.expires_in

const me = await client.GET('/users/me', { headers: { authorization: 'Bearer ' + tokens.access_token } })
if (me.data === undefined) throw new Error('/users/me: ' + me.response.status + ' ' + JSON.stringify(me.error))
const user = me.data
const name: string = user.username
const scopes: string[] = user.scopes
// @ts-expect-error the public user has no password hash: the generated type is closed
void user.hashed_password

const anonymous = await client.GET('/users/me')

console.log(JSON.stringify({
  registeredId: userId,
  refused: { status: refused.response.status, error: refusedError },
  login: { status: login.response.status, tokenType, expiresIn, scope: tokens.scope, hasRefreshToken: typeof tokens.refresh_token === 'string' },
  me: { status: me.response.status, id: user.id, username: name, scopes },
  anonymous: { status: anonymous.response.status }
}))
`

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmitOnError: true,
    rootDir: '.',
    outDir: 'out'
  },
  files: ['program.ts', 'schema.ts']
}

async function openapiDocument (base: string): Promise<Json> {
  const res = await call<Json>(base, '/openapi.json')
  assert.equal(res.status, 200)
  return res.body
}

function operations (doc: Json) {
  const list: Array<{ key: string, op: Json }> = []
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) if (item[method] !== undefined) list.push({ key: `${method} ${path}`, op: item[method] })
  }
  return list
}

describe('a typed client generated from /openapi.json (openapi-typescript + openapi-fetch)', () => {
  it('generates types, type-checks a client program under --strict, and the program registers, logs in and reads /users/me', async (t) => {
    const { base } = await startInteropServer(t)
    const doc = await openapiDocument(base)

    const schema = COMMENT_HEADER + astToString(await openapiTS(doc as OpenAPI3))
    for (const path of ['/register', '/token', '/users/me']) assert.ok(schema.includes(`"${path}": {`), `the generated paths have ${path}`)

    const dir = mkdtempSync(join(tmpdir(), 'interop-openapi-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'schema.ts'), schema)
    writeFileSync(join(dir, 'program.ts'), PROGRAM)
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }))
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2))
    // openapi-fetch, @types/node and typescript as this repository has them.
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')

    // One tsc run both type-checks (a type error fails it, and noEmitOnError writes nothing) and
    // compiles the program to out/program.js.
    const tsc = await run(process.execPath, [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, '--strict'], { cwd: dir, timeoutMs: 180_000 })
    assert.equal(tsc.code, 0, `tsc --strict on the generated client: ${describeRun(tsc)}`)

    const username = uniqueName('oapi')
    const program = await run(process.execPath, [join(dir, 'out', 'program.js'), base, username, PASSWORD], { cwd: dir, timeoutMs: 60_000 })
    assert.equal(program.code, 0, describeRun(program))
    const out = JSON.parse(program.stdout) as Json

    assert.equal(out.refused.status, 400)
    assert.equal(out.refused.error.error, 'invalid_grant')
    assert.deepEqual(out.login, { status: 200, tokenType: 'bearer', expiresIn: out.login.expiresIn, scope: 'me', hasRefreshToken: true })
    assert.ok(out.login.expiresIn > 0)
    assert.deepEqual(out.me, { status: 200, id: out.registeredId, username, scopes: ['me', 'items'] })
    assert.equal(out.anonymous.status, 401)
  })

  it('gives every operation a stable operationId (CONTRACT.md)', async (t) => {
    // Two instances on different ports: the operationIds may not depend on the instance. Started
    // one after the other, so a failed start cannot leave the other running past the test's end.
    const one = await startInteropServer(t)
    const two = await startInteropServer(t)
    const [doc, other] = await Promise.all([openapiDocument(one.base), openapiDocument(two.base)])

    const ops = operations(doc)
    assert.ok(ops.length >= 15, `${ops.length} operations`)
    const withoutId = ops.filter(({ op }) => typeof op.operationId !== 'string' || op.operationId.trim() === '').map(({ key }) => key)
    assert.deepEqual(withoutId, [], 'operations without an operationId')
    const ids = ops.map(({ op }) => op.operationId as string)
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'operationIds used twice (OpenAPI: unique among all operations)')
    const idsOf = (d: Json) => Object.fromEntries(operations(d).map(({ key, op }) => [key, op.operationId]))
    assert.deepEqual(idsOf(other), idsOf(doc), 'the same operationIds from another instance')
  })

  it('lists servers, the first of which reaches this server (CONTRACT.md)', async (t) => {
    const { base } = await startInteropServer(t)
    const doc = await openapiDocument(base)
    assert.ok(Array.isArray(doc.servers) && doc.servers.length > 0, `servers: ${JSON.stringify(doc.servers)}`)
    for (const server of doc.servers as Json[]) assert.equal(typeof server.url, 'string', JSON.stringify(server))
    // What a generated client would take as its base URL (a relative URL resolves against the document's).
    const serverBase = new URL(doc.servers[0].url, `${base}/openapi.json`).href.replace(/\/$/, '')
    const health = await call(serverBase, '/health')
    assert.equal(health.status, 200, `${serverBase}/health`)
  })
})
