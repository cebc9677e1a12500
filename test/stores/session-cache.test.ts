import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { decodeJwt } from 'jose'
import { createApp } from '../../src/app.js'
import { bearer, registerAndLogin, storeOf, testConfig, sqliteFile } from '../helper.js'
import { call, registerAndLogin as registerAndLoginOver } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

/*
 * The per-request session cache on SQLite (src/stores/sql-store.ts): a logout, revocation,
 * password change, disable or delete is refused on the very next request, whoever made it.
 */
const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))

describe('session cache (SQLite)', () => {
  it('serves repeated lookups from memory, and sees a write of its own connection on the next one', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: sqliteFile(t) }))
    t.after(() => app.close())
    const { user, tokens } = await registerAndLogin(app)
    const me = () => app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal((await me()).statusCode, 200)
    const counter = app.dbChangeCounter!
    const before = counter()
    assert.equal((await me()).statusCode, 200)
    assert.equal(counter(), before, 'a cached request writes nothing')
    // A write that bypasses the services (another module on the same connection) still counts.
    await app.db.updateTable('users').set({ disabled: 1 }).where('id', '=', user.id).execute()
    assert.equal((await me()).statusCode, 401)
  })

  it('sees a commit of another connection (a second app on the file) before using an entry', async (t) => {
    const url = sqliteFile(t)
    const a = await createApp(testConfig({ DATABASE_URL: url }))
    t.after(() => a.close())
    const b = await createApp(testConfig({ DATABASE_URL: url }))
    t.after(() => b.close())
    const { tokens } = await registerAndLogin(a)
    const me = () => a.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    for (let i = 0; i < 3; i++) assert.equal((await me()).statusCode, 200)
    assert.equal(await storeOf(b).sessions.end(String(decodeJwt(tokens.access_token).sid), Date.now()), true)
    assert.equal((await me()).statusCode, 401)
  })

  it('refuses the next request after `npm run cli -- users disable` while the server serves from its cache', async (t) => {
    const env = { DATABASE_URL: sqliteFile(t) }
    const server = await startServerProcess(t, env)
    const { tokens } = await registerAndLoginOver(server.base, 'cached')
    const me = () => call(server.base, '/users/me', { headers: bearer(tokens.access_token) })
    for (let i = 0; i < 5; i++) assert.equal((await me()).status, 200)
    await promisify(execFile)(process.execPath, [...process.execArgv, cli, 'users', 'disable', 'cached'], { env: { ...process.env, ...env }, timeout: 30_000 })
    assert.equal((await me()).status, 401)
  })

  it('can be switched off (SESSION_CACHE=false): every request asks the database', async (t) => {
    const app = await createApp(testConfig({ DATABASE_URL: sqliteFile(t), SESSION_CACHE: 'false' }))
    t.after(() => app.close())
    const { tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
    assert.equal(app.config.database.sessionCache, false)
  })
})
