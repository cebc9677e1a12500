import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import { successorRefreshToken } from '../../src/identifiers.js'
import type { TokenResponse } from '../../src/schemas/token.js'
import { buildMailApp } from '../mail/helpers.js'
import { adminLogin, assertNoStore, assertSessionEnded, bearer, build, eventually, getMe, listening, login, PASSWORD, postToken, refresh, registerAndLogin, registerUser, storeOf } from '../helper.js'
import { postForm } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

const INVALID_GRANT = { error: 'invalid_grant' }
/** Strict rotation: no reuse interval. */
const STRICT = { REFRESH_REUSE_INTERVAL_SECONDS: '0' }

describe('POST /token grant_type=refresh_token', () => {
  it('answers a new access and refresh token for the same session', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const res = await refresh(app, tokens.refresh_token)
    assert.equal(res.statusCode, 200)
    assertNoStore(res)
    const next = res.json<TokenResponse>()
    assert.deepEqual(Object.keys(next).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    assert.equal(next.token_type, 'bearer')
    assert.equal(next.scope, tokens.scope)
    assert.notEqual(next.access_token, tokens.access_token)
    assert.notEqual(next.refresh_token, tokens.refresh_token)
    const before = decodeJwt(tokens.access_token)
    const after = decodeJwt(next.access_token)
    assert.equal(after.sid, before.sid)
    assert.equal(after.sub, user.id)
    assert.notEqual(after.jti, before.jti)

    const me = await app.inject({ url: '/users/me', headers: bearer(next.access_token) })
    assert.equal(me.statusCode, 200)
    assert.equal(me.json().id, user.id)
  })

  it('keeps rotating: each successor refreshes once more', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    let current = tokens.refresh_token
    const seen = new Set([current])
    for (let i = 0; i < 3; i++) {
      const res = await refresh(app, current)
      assert.equal(res.statusCode, 200, res.body)
      current = res.json<TokenResponse>().refresh_token
      assert.ok(!seen.has(current), 'a refresh token is never handed out twice')
      seen.add(current)
    }
  })

  it('refuses a refresh token after it was used, under strict rotation (REFRESH_REUSE_INTERVAL_SECONDS=0)', async (t) => {
    const app = await build(t, STRICT)
    const { tokens } = await registerAndLogin(app)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    const again = await refresh(app, tokens.refresh_token)
    assert.equal(again.statusCode, 400)
    assertNoStore(again)
    assert.equal(again.json().error, 'invalid_grant')
  })

  it('ends the whole session when a used refresh token comes back (reuse detection, strict rotation)', async (t) => {
    const app = await build(t, STRICT)
    const { tokens: first } = await registerAndLogin(app)
    const rotated = await refresh(app, first.refresh_token)
    assert.equal(rotated.statusCode, 200)
    const second = rotated.json<TokenResponse>()
    // the newest access token works until the replay
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(second.access_token) })).statusCode, 200)

    const replay = await refresh(app, first.refresh_token)
    assert.equal(replay.statusCode, 400)
    assert.equal(replay.json().error, 'invalid_grant')

    const successor = await refresh(app, second.refresh_token)
    assert.equal(successor.statusCode, 400)
    assert.equal(successor.json().error, 'invalid_grant')
    assertNoStore(successor)

    const me = await app.inject({ url: '/users/me', headers: bearer(second.access_token) })
    assert.equal(me.statusCode, 401)
    assert.equal(me.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })

  it('leaves the user\'s other sessions alone on reuse detection', async (t) => {
    const app = await build(t, STRICT)
    const { user, tokens: first } = await registerAndLogin(app)
    const other = await login(app, user.username)
    assert.equal((await refresh(app, first.refresh_token)).statusCode, 200)
    assert.equal((await refresh(app, first.refresh_token)).statusCode, 400)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(other.access_token) })).statusCode, 200)
    assert.equal((await refresh(app, other.refresh_token)).statusCode, 200)
  })

  it('grants a narrower scope when asked', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal(tokens.scope, 'me items')
    const res = await refresh(app, tokens.refresh_token, { scope: 'me' })
    assert.equal(res.statusCode, 200)
    const next = res.json<TokenResponse>()
    assert.equal(next.scope, 'me')
    assert.equal(decodeJwt(next.access_token).scope, 'me')
    const items = await app.inject({ url: '/items', headers: bearer(next.access_token) })
    assert.equal(items.statusCode, 403)
  })

  it('answers invalid_scope for a scope wider than originally granted', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { scope: 'me' })
    assert.equal(tokens.scope, 'me')
    const res = await refresh(app, tokens.refresh_token, { scope: 'me items' })
    assert.equal(res.statusCode, 400)
    assertNoStore(res)
    assert.equal(res.json().error, 'invalid_scope')
  })

  it('answers invalid_scope for admin asked by a user who is not an admin', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await refresh(app, tokens.refresh_token, { scope: 'me admin' })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error, 'invalid_scope')
  })

  it('keeps the refresh token usable after a refused scope', async (t) => {
    // RFC 6749 §6: the client discards its refresh token only when it received a new one.
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { scope: 'me' })
    assert.equal((await refresh(app, tokens.refresh_token, { scope: 'me items' })).statusCode, 400)
    const retry = await refresh(app, tokens.refresh_token)
    assert.equal(retry.statusCode, 200, retry.body)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  })

  it('answers one invalid_grant body for every garbage refresh token, naming the refresh token, not a password', async (t) => {
    const app = await build(t)
    const { user } = await registerUser(app)
    const wrongPassword = await postToken(app, { grant_type: 'password', username: user.username, password: 'not the password at all' })
    assert.equal(wrongPassword.statusCode, 400)
    assert.equal(wrongPassword.json().error, INVALID_GRANT.error)
    for (const garbage of ['garbage', 'a'.repeat(43), 'x.y.z', '%00']) {
      const res = await refresh(app, garbage)
      assert.equal(res.statusCode, 400, garbage)
      assertNoStore(res)
      assert.deepEqual(res.json(), { error: 'invalid_grant', error_description: 'Invalid refresh token' }, garbage)
    }
  })

  it('answers invalid_grant when another client_id presents the refresh token', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { client_id: 'app-one' })
    assert.equal(decodeJwt(tokens.access_token).client_id, 'app-one')
    const res = await refresh(app, tokens.refresh_token, { client_id: 'app-two' })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error, 'invalid_grant')
  })

  it('keeps the client_id of the session in refreshed tokens', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { client_id: 'app-one' })
    const res = await refresh(app, tokens.refresh_token, { client_id: 'app-one' })
    assert.equal(res.statusCode, 200)
    assert.equal(decodeJwt(res.json<TokenResponse>().access_token).client_id, 'app-one')
  })

  it('answers invalid_grant for a user who was disabled', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const admin = await adminLogin(app)
    const patch = await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: bearer(admin.tokens.access_token), payload: { disabled: true } })
    assert.equal(patch.statusCode, 200)
    const res = await refresh(app, tokens.refresh_token)
    assert.equal(res.statusCode, 400)
    assert.deepEqual(res.json().error, 'invalid_grant')
  })

  it('answers invalid_grant for a user disabled in the store, sessions left open', async (t) => {
    // The session check must look at the user too, not rely on the admin route ending sessions.
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    await storeOf(app).users.update(user.id, { disabled: true })
    const res = await refresh(app, tokens.refresh_token)
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().error, 'invalid_grant')
  })

  it('answers invalid_request without a refresh_token', async (t) => {
    const app = await build(t)
    const res = await postToken(app, { grant_type: 'refresh_token' })
    assert.equal(res.statusCode, 400)
    assertNoStore(res)
    assert.equal(res.json().error, 'invalid_request')
  })
})

/** Moves a refresh token's first use back by `ms`, as if that much time had passed since (the store's clock is Date.now()). */
async function ageFirstUse (app: FastifyInstance, refreshToken: string, ms: number) {
  const hash = createHash('sha256').update(refreshToken).digest('base64url')
  const row = await app.db.selectFrom('refresh_tokens').select('used_at').where('token_hash', '=', hash).executeTakeFirstOrThrow()
  await app.db.updateTable('refresh_tokens').set({ used_at: Number(row.used_at) - ms }).where('token_hash', '=', hash).execute()
}

describe('the reuse interval (REFRESH_REUSE_INTERVAL_SECONDS, default 10)', () => {
  it('answers a token presented again within it with the same successor and a new access token of the same session', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const first = await refresh(app, tokens.refresh_token)
    const again = await refresh(app, tokens.refresh_token)
    assert.equal(first.statusCode, 200, first.body)
    assert.equal(again.statusCode, 200, again.body)
    assertNoStore(again)
    const [a, b] = [first.json<TokenResponse>(), again.json<TokenResponse>()]
    assert.equal(b.refresh_token, a.refresh_token)
    assert.notEqual(b.access_token, a.access_token)
    assert.equal(decodeJwt(b.access_token).sid, decodeJwt(tokens.access_token).sid)
    assert.equal(b.scope, a.scope)
    // Both access tokens work, and the successor is the session's one live refresh token.
    assert.equal((await getMe(app, a.access_token)).statusCode, 200)
    assert.equal((await getMe(app, b.access_token)).statusCode, 200)
    assert.equal((await refresh(app, a.refresh_token)).statusCode, 200)
  })

  it('ends the session when the token comes back after the interval', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const next = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    await ageFirstUse(app, tokens.refresh_token, 10_001)
    const late = await refresh(app, tokens.refresh_token)
    assert.equal(late.statusCode, 400)
    assert.equal(late.json().error, 'invalid_grant')
    await assertSessionEnded(app, next)
  })

  it('is still open 9 s after the first use, closed just past 10 s', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    await ageFirstUse(app, tokens.refresh_token, 9_000)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    await ageFirstUse(app, tokens.refresh_token, 1_100)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
  })

  it('ends the session when the token comes back after its successor was used', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const second = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    const third = (await refresh(app, second.refresh_token)).json<TokenResponse>()
    const replay = await refresh(app, tokens.refresh_token)
    assert.equal(replay.statusCode, 400)
    assert.equal(replay.json().error, 'invalid_grant')
    await assertSessionEnded(app, third)
  })

  it('refuses another client_id within it without ending the session', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { client_id: 'app-one' })
    const next = (await refresh(app, tokens.refresh_token, { client_id: 'app-one' })).json<TokenResponse>()
    const foreign = await refresh(app, tokens.refresh_token, { client_id: 'app-two' })
    assert.equal(foreign.statusCode, 400)
    assert.equal(foreign.json().error, 'invalid_grant')
    assert.equal((await getMe(app, next.access_token)).statusCode, 200)
    assert.equal((await refresh(app, next.refresh_token, { client_id: 'app-one' })).statusCode, 200)
  })

  it('refuses a scope wider than the first use was granted (invalid_grant) without ending the session; a narrower one passes', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    assert.equal(tokens.scope, 'me items')
    const first = (await refresh(app, tokens.refresh_token, { scope: 'me' })).json<TokenResponse>()
    assert.equal(first.scope, 'me')
    const wider = await refresh(app, tokens.refresh_token, { scope: 'me items' })
    assert.equal(wider.statusCode, 400)
    assert.equal(wider.json().error, 'invalid_grant')
    const unscoped = await refresh(app, tokens.refresh_token)
    assert.equal(unscoped.statusCode, 200)
    assert.equal(unscoped.json<TokenResponse>().scope, 'me', 'no scope asked: what the first use was granted')
    assert.equal(unscoped.json<TokenResponse>().refresh_token, first.refresh_token)
    assert.equal((await getMe(app, first.access_token)).statusCode, 200)
  })

  it('logs reuse detection as a warning naming the session, without the token', async (t) => {
    const logs: string[] = []
    const app = await buildMailApp(t, { logs })
    const { tokens } = await registerAndLogin(app)
    const second = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    assert.equal((await refresh(app, second.refresh_token)).statusCode, 200)
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
    const sid = decodeJwt(tokens.access_token).sid
    const found = await eventually(async () => logs.map(line => JSON.parse(line) as Record<string, unknown>).filter(entry => entry.event === 'refresh-reuse'), entries => entries.length > 0)
    assert.equal(found[0]!.level, 40, 'warn')
    assert.equal(found[0]!.sessionId, sid)
    assert.ok(!logs.join('\n').includes(tokens.refresh_token))
  })

  it('gives nothing after the session was ended within it (logout, then a replay)', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const next = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    const logout = await app.inject({ method: 'POST', url: '/logout', headers: bearer(next.access_token) })
    assert.equal(logout.statusCode, 204)
    const replay = await refresh(app, tokens.refresh_token)
    assert.equal(replay.statusCode, 400)
    assert.equal(replay.json().error, 'invalid_grant')
  })

  it('rotates strictly the sessions stored without a rotation key (before migration 0006)', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    await app.db.updateTable('sessions').set({ rotation_key: null }).where('id', '=', decodeJwt(tokens.access_token).sid as string).execute()
    const next = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 400)
    await assertSessionEnded(app, next)
  })

  it('derives successors with JWT_SECRET joined to the stored key: a copy of the database and an old token do not give the live one (found from outside)', async (t) => {
    for (const secret of [undefined, 'a-secret-of-at-least-thirty-two-bytes!!']) {
      const app = await build(t, secret === undefined ? {} : { JWT_SECRET: secret })
      const { tokens } = await registerAndLogin(app)
      const next = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
      const { rotation_key: key } = await app.db.selectFrom('sessions').select('rotation_key').where('id', '=', decodeJwt(tokens.access_token).sid as string).executeTakeFirstOrThrow()
      const fromDatabaseAlone = successorRefreshToken(key!, tokens.refresh_token)
      // Without JWT_SECRET the signing keys are in the same database: a copy of it is total anyway.
      if (secret === undefined) assert.equal(fromDatabaseAlone, next.refresh_token)
      else assert.notEqual(fromDatabaseAlone, next.refresh_token)
    }
  })

  it('stores no refresh token in clear: the successor is found only as its SHA-256', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const next = (await refresh(app, tokens.refresh_token)).json<TokenResponse>()
    const dump = JSON.stringify([
      await app.db.selectFrom('refresh_tokens').selectAll().execute(),
      await app.db.selectFrom('sessions').selectAll().execute()
    ])
    for (const token of [tokens.refresh_token, next.refresh_token]) assert.ok(!dump.includes(token))
  })
})

const ISSUER = 'http://race.test'
/** The races send ~80 token requests a round trip apart from one address: over the shipped 60 a minute, so that limit is off here. */
const RACE_ENV = { JWT_ISSUER: ISSUER, TOKEN_RATE_LIMIT: '0' }

/** The real entry point in a child process: its own database connection. */
const startChildProcess = async (t: TestContext, databaseUrl: string, env: Record<string, string>) =>
  (await startServerProcess(t, { DATABASE_URL: databaseUrl, ...env })).base

/** POST /token over HTTP. */
const tokenOverHttp = (base: string, fields: Record<string, string>) => postForm<Record<string, string>>(base, '/token', fields)

/**
 * 20 rounds of 2 to 4 concurrent refreshes of one token, spread over the given servers. Strict:
 * at most one wins. With the reuse interval: every one wins, all with the same successor, which
 * is then the session's one live refresh token. Resolves the number of 200s.
 */
async function race (bases: string[], username: string, strict: boolean) {
  let winners = 0
  for (let round = 0; round < 20; round++) {
    const start = await tokenOverHttp(bases[round % bases.length]!, { grant_type: 'password', username, password: PASSWORD })
    assert.equal(start.status, 200)
    const parallel = 2 + (round % 3)
    const results = await Promise.all(Array.from({ length: parallel }, (_, i) =>
      tokenOverHttp(bases[i % bases.length]!, { grant_type: 'refresh_token', refresh_token: start.body.refresh_token! })))
    const ok = results.filter(r => r.status === 200)
    winners += ok.length
    if (strict) {
      assert.ok(ok.length <= 1, `round ${round}: ${ok.length} of ${parallel} refreshes succeeded`)
      for (const r of results.filter(r => r.status !== 200)) {
        assert.equal(r.status, 400, `round ${round}: ${r.status} ${JSON.stringify(r.body)}`)
        assert.equal(r.body.error, 'invalid_grant')
      }
    } else {
      assert.equal(ok.length, parallel, `round ${round}: ${JSON.stringify(results.map(r => [r.status, r.body.error]))}`)
      assert.equal(new Set(ok.map(r => r.body.refresh_token)).size, 1, `round ${round}: the tabs got different refresh tokens`)
      assert.equal(new Set(ok.map(r => decodeJwt(r.body.access_token!).sid)).size, 1)
      assert.notEqual(ok[0]!.body.refresh_token, start.body.refresh_token)
    }
    // Never two live successors: at most one handed-out refresh token still works.
    const distinct = [...new Set(ok.map(r => r.body.refresh_token!))]
    const successors = await Promise.all(distinct.map(token => tokenOverHttp(bases[0]!, { grant_type: 'refresh_token', refresh_token: token })))
    assert.ok(successors.filter(r => r.status === 200).length <= 1)
    if (!strict) assert.equal(successors[0]!.status, 200, 'the common successor refreshes')
    assert.ok(successors.every(r => r.status < 500), JSON.stringify(successors))
  }
  return winners
}

describe('concurrent refreshes of one refresh token', () => {
  for (const strict of [true, false]) {
    const mode = strict ? 'strict rotation: at most one of them wins' : 'within the reuse interval: all of them win with one successor'
    const env = { ...RACE_ENV, ...(strict ? STRICT : {}) }

    it(`${mode}, over a real port on a file database`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'refresh-race-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const { app: server, base } = await listening(t, { DATABASE_URL: `sqlite:${join(dir, 'x.db')}`, ...env })
      const { user } = await registerUser(server)
      const winners = await race([base], user.username, strict)
      // The race must produce winners, or it proves nothing.
      assert.ok(winners > 0, 'no refresh ever succeeded')
    })

    it(`${mode}, across two processes sharing the database`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'refresh-race2-'))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const url = `sqlite:${join(dir, 'x.db')}`
      const { app: server, base } = await listening(t, { DATABASE_URL: url, ...env })
      const childBase = await startChildProcess(t, url, env)
      const { user } = await registerUser(server)
      const winners = await race([base, childBase], user.username, strict)
      assert.ok(winners > 0, 'no refresh ever succeeded')
    })
  }
})
