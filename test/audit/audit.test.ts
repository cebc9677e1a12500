import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { createAuthCore } from '../../src/core/index.js'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest } from '../../src/db/migrations.js'
import { AuthSettings } from '../../src/schemas/auth-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import type { AuthStore } from '../../src/stores/auth-store.js'
import { createSqlStore } from '../../src/stores/sql-store.js'
import { adminLogin, assertHttpError, bearer, build, login, PASSWORD, passwordGrant, refresh, registerAndLogin, registerUser } from '../helper.js'

/*
 * The audit log (issue 22; CONTRACT.md "Events, hooks and the audit log"): what is stored, in
 * which transaction, and who may read it.
 */

const audit = (app: FastifyInstance, token: string, query = '') => app.inject({ url: `/admin/audit${query}`, headers: bearer(token) })
const stored = (app: FastifyInstance) => app.db.selectFrom('audit_events').selectAll().orderBy('at').orderBy('id').execute()
const quiet = { info () {}, warn () {}, error () {} }

describe('the audit log', () => {
  it('stores each event with its context by the time the answer is sent', async (t) => {
    // Strict rotation: the second use of the token below is reuse at once.
    const app = await build(t, { TOKEN_RATE_LIMIT: '0', REFRESH_REUSE_INTERVAL_SECONDS: '0' })
    const headers = { 'user-agent': 'audit-test/1.0' }
    const reg = await app.inject({ method: 'POST', url: '/register', payload: { username: 'audited', password: PASSWORD }, headers, remoteAddress: '192.0.2.7' })
    assert.equal(reg.statusCode, 201)
    // No polling: the event committed with the user.
    const [created] = await stored(app)
    assert.equal(created?.type, 'user.created')
    assert.equal(created?.user_id, reg.json().id)
    assert.equal(created?.ip, '192.0.2.7')
    assert.equal(created?.user_agent, 'audit-test/1.0')

    const tokens = await login(app, 'audited')
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400) // reuse: the session ends
    assert.equal((await passwordGrant(app, 'audited', 'not the password')).statusCode, 400)
    const rows = await stored(app)
    // Events of one millisecond have no order of their own (ids are random): the reuse's two compared as a set.
    const types = rows.map(row => row.type)
    assert.deepEqual([types.slice(0, 3), types.slice(3, 5).sort(), types.slice(5)], [['user.created', 'login.succeeded', 'token.refreshed'], ['refresh.reused', 'session.ended'], ['login.failed']])
    const succeeded = rows[1]!
    assert.equal(succeeded.user_id, reg.json().id)
    assert.ok(succeeded.session_id !== null && succeeded.client_id !== null)
    assert.equal(rows[2]!.session_id, succeeded.session_id)
    assert.deepEqual(JSON.parse(rows.find(row => row.type === 'session.ended')!.data), { reason: 'reused' })
    assert.deepEqual(JSON.parse(rows[5]!.data), { reason: 'invalid_credentials' })
    assert.equal(rows[5]!.user_id, reg.json().id, 'a failure against an account names it')
  })

  it('stores a replay within the reuse interval as token.refreshed with data.replay, in the same session', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    assert.equal((await app.inject({ method: 'POST', url: '/register', payload: { username: 'replayed', password: PASSWORD } })).statusCode, 201)
    const tokens = await login(app, 'replayed')
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    const refreshed = (await stored(app)).filter(row => row.type === 'token.refreshed')
    assert.deepEqual(refreshed.map(row => JSON.parse(row.data)), [{}, { replay: true }])
    assert.equal(refreshed[0]!.session_id, refreshed[1]!.session_id)
    assert.equal((await stored(app)).filter(row => row.type === 'refresh.reused').length, 0)
  })

  it('stores an event in the transaction of its change: when the event cannot be stored, the change is undone', async () => {
    const { db } = createDatabase('sqlite::memory:')
    await migrateToLatest(db)
    const sql = createSqlStore(db)
    let failAudit = false
    // The same store, whose audit write fails on demand inside the transaction.
    const store: AuthStore = {
      ...sql,
      transaction: work => sql.transaction!(tx => work({ ...tx, audit: { ...tx.audit!, record: async (entries) => { if (failAudit) throw new Error('audit write failed'); return tx.audit!.record(entries) } } }))
    }
    const settings = parseOrThrow(AuthSettings, { jwt: { secret: 'x'.repeat(32) }, argon2: { memoryCost: 7168, timeCost: 1 } }, problems => new Error(problems.join('; ')))
    const core = await createAuthCore(settings, store, quiet)
    try {
      const kept = await core.accounts.register({ username: 'kept', password: PASSWORD })
      failAudit = true
      await assert.rejects(core.accounts.register({ username: 'undone', password: PASSWORD }), /audit write failed/)
      assert.equal(await sql.users.findByLogin('undone'), undefined, 'no user without its user.created')
      await assert.rejects(core.accounts.setDisabled(kept.id, true), /audit write failed/)
      assert.equal((await sql.users.findById(kept.id))?.disabled, false, 'not disabled without its user.disabled')
      failAudit = false
      await core.accounts.setDisabled(kept.id, true)
      const types = (await sql.audit!.list({ limit: 10, order: 'asc' })).map(event => event.type)
      assert.deepEqual(types, ['user.created', 'user.disabled'])
    } finally {
      await core.stop()
      await db.destroy()
    }
  })

  it('stores nothing for a change that did not happen (a duplicate name, a refused refresh)', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const { user, tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ method: 'POST', url: '/register', payload: { username: user.username.toUpperCase(), password: PASSWORD } })).statusCode, 409)
    assert.equal((await refresh(app, tokens.refresh_token, { client_id: 'another-client' })).statusCode, 400)
    assert.deepEqual((await stored(app)).map(row => row.type), ['user.created', 'login.succeeded'])
  })

  it('records who acted, and from where, for admin and self-service changes; a long user agent is cut', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const admin = await adminLogin(app)
    const { user, tokens } = await registerAndLogin(app)
    const from = { remoteAddress: '203.0.113.9', headers: { ...bearer(admin.tokens.access_token), 'user-agent': 'admin-console/2' } }
    assert.equal((await app.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { full_name: 'Renamed' }, ...from })).statusCode, 200)
    const mine = { remoteAddress: '203.0.113.10', headers: { ...bearer(tokens.access_token), 'user-agent': 'x'.repeat(5000) } }
    assert.equal((await app.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: PASSWORD, new_password: 'another long passphrase' }, ...mine })).statusCode, 204)
    assert.equal((await app.inject({ method: 'POST', url: '/logout', ...mine })).statusCode, 204)
    const rows = await stored(app)
    const loggedOut = rows.find(row => row.type === 'session.ended' && JSON.parse(row.data).reason === 'logout')!
    assert.deepEqual([loggedOut.user_id, loggedOut.session_id, loggedOut.ip], [user.id, rows.find(row => row.type === 'login.succeeded' && row.user_id === user.id)!.session_id, '203.0.113.10'])
    const updated = rows.find(row => row.type === 'user.updated')!
    const adminId = (await app.authAccounts.getByLogin(admin.username)).id
    assert.deepEqual([updated.user_id, updated.actor_id, updated.ip, updated.user_agent, JSON.parse(updated.data)], [user.id, adminId, '203.0.113.9', 'admin-console/2', { fields: ['full_name'] }])
    const changed = rows.find(row => row.type === 'password.changed')!
    assert.deepEqual([changed.user_id, changed.actor_id, changed.ip], [user.id, user.id, '203.0.113.10'])
    assert.equal(changed.user_agent, 'x'.repeat(512))
  })

  it('failed logins for an existing account are one row each (never hidden in an aggregate)', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const { user } = await registerUser(app)
    for (let i = 0; i < 3; i++) assert.equal((await passwordGrant(app, user.username, `wrong ${i}`)).statusCode, 400)
    const failures = (await stored(app)).filter(row => row.type === 'login.failed')
    assert.equal(failures.length, 3)
    assert.ok(failures.every(row => row.user_id === user.id && row.count === 1 && row.aggregate_key === null))
  })

  it('the hourly clean-up deletes events older than AUDIT_RETENTION_DAYS', async (t) => {
    const app = await build(t, { AUDIT_RETENTION_DAYS: '30' })
    await registerUser(app)
    const now = Date.now()
    await app.db.insertInto('audit_events').values([31, 29].map(days => ({ id: `old-${days}`, type: 'user.updated', at: now - days * 86_400_000, data: '{}', count: 1 }))).execute()
    assert.equal(await app.authCore.audit.purge(now), 1)
    assert.deepEqual((await stored(app)).map(row => row.id).filter(id => id.startsWith('old-')), ['old-29'])
  })
})

describe('GET /admin/audit', () => {
  it('is for scope admin only: 401 without a token, 403 for a user', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal((await app.inject({ url: '/admin/audit' })).statusCode, 401)
    assert.equal((await audit(app, tokens.access_token)).statusCode, 403)
    const narrowed = await adminLogin(app)
    const meOnly = await login(app, narrowed.username, PASSWORD, { scope: 'me' })
    assert.equal((await audit(app, meOnly.access_token)).statusCode, 403)
  })

  it('filters by type, user and time, newest first, and pages with next_cursor without gaps or overlaps', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const { tokens } = await adminLogin(app)
    const { user } = await registerUser(app)
    for (let i = 0; i < 3; i++) await passwordGrant(app, user.username, `wrong ${i}`)
    const all = (await audit(app, tokens.access_token, '?limit=500')).json()
    assert.equal(all.next_cursor, null)
    const times = all.items.map((e: { at: string }) => Date.parse(e.at))
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first')

    const failures = (await audit(app, tokens.access_token, `?type=login.failed&user_id=${user.id}`)).json()
    assert.equal(failures.items.length, 3)
    assert.ok(failures.items.every((e: { type: string, user_id: string }) => e.type === 'login.failed' && e.user_id === user.id))

    const future = new Date(Date.now() + 60_000).toISOString()
    assert.equal((await audit(app, tokens.access_token, `?since=${future}`)).json().items.length, 0)
    assert.equal((await audit(app, tokens.access_token, `?until=${future}`)).json().items.length, all.items.length)

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { items: Array<{ id: string }>, next_cursor: string | null } = (await audit(app, tokens.access_token, `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)).json()
      assert.ok(page.items.length <= 2)
      seen.push(...page.items.map(e => e.id))
      cursor = page.next_cursor
    } while (cursor !== null)
    assert.deepEqual(seen, all.items.map((e: { id: string }) => e.id))
  })

  it('answers 400, never 500, for bad filters', async (t) => {
    const app = await build(t)
    const { tokens } = await adminLogin(app)
    for (const query of ['?cursor=garbage', '?cursor=WzEsMl0', '?since=yesterday', '?limit=0', '?limit=501', '?type=DROP%20TABLE', '?until=2026-13-45T00:00:00Z', '?since=2026-12-31T23:59:60Z', '?until=2026-12-31T23:59:60Z']) {
      assertHttpError(await audit(app, tokens.access_token, query), 400, 'Bad Request')
    }
  })
})

describe('GET /users/me/security-events', () => {
  it('shows the caller their own logins, failures and session events, nobody else\'s', async (t) => {
    const app = await build(t, { TOKEN_RATE_LIMIT: '0' })
    const alice = await registerAndLogin(app)
    const bob = await registerAndLogin(app)
    await passwordGrant(app, alice.user.username, 'wrong')
    await passwordGrant(app, bob.user.username, 'wrong')
    const res = await app.inject({ url: '/users/me/security-events', headers: bearer(alice.tokens.access_token) })
    assert.equal(res.statusCode, 200)
    const items: Array<{ type: string, user_id: string }> = res.json()
    assert.deepEqual(items.map(e => e.type), ['login.failed', 'login.succeeded'])
    assert.ok(items.every(e => e.user_id === alice.user.id))
    assert.equal((await app.inject({ url: '/users/me/security-events' })).statusCode, 401)
    assertHttpError(await app.inject({ url: '/users/me/security-events?limit=1000', headers: bearer(alice.tokens.access_token) }), 400, 'Bad Request')
  })

  it('is documented in /openapi.json beside GET /admin/audit', async (t) => {
    const app = await build(t)
    const doc = (await app.inject({ url: '/openapi.json' })).json()
    assert.equal(doc.paths['/admin/audit'].get.operationId, 'listAuditEvents')
    assert.equal(doc.paths['/users/me/security-events'].get.operationId, 'listSecurityEventsMe')
    assert.ok(doc.paths['/admin/audit'].get.security !== undefined)
  })
})
