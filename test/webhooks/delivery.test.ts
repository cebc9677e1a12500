import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Webhook } from 'standardwebhooks'
import { durableDatabaseUrl, eventually, passwordGrant, refresh, registerUser, uniqueName } from '../helper.js'
import { allSent, freePort, newSecret, startReceiver, webhookApp, type Received } from './receiver.js'

/*
 * Webhooks as a receiver meets them (issue 22; CONTRACT.md "Events, hooks and the audit log"): a
 * real HTTP server on 127.0.0.1 verifying every request with the `standardwebhooks` library.
 * Counts: events queued (rows of webhook_deliveries), delivered (distinct ids answered 2xx),
 * duplicates (ids answered 2xx more than once).
 */

/** Distinct ids the receiver accepted (answered 2xx, verified), and those it accepted twice or more. */
function tally (received: Received[], accepted: (r: Received, i: number) => boolean = () => true) {
  const counts = new Map<string, number>()
  received.forEach((r, i) => { if (r.payload !== undefined && accepted(r, i)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1) })
  return { delivered: counts.size, duplicates: [...counts].filter(([, n]) => n > 1).map(([id]) => id) }
}

describe('webhooks', () => {
  it('delivers every event once, signed: the receiver verifies each with standardwebhooks', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const app = await webhookApp(t, { url: receiver.url, secret })

    const users = [(await registerUser(app)).user, (await registerUser(app)).user, (await registerUser(app)).user]
    const tokens = (await passwordGrant(app, users[0]!.username)).json()
    assert.equal((await refresh(app, tokens.refresh_token)).statusCode, 200)
    assert.equal((await passwordGrant(app, users[1]!.username, 'a wrong password')).statusCode, 400)

    const rows = await allSent(app)
    const events = await app.db.selectFrom('audit_events').select(['id', 'type']).execute()
    assert.equal(rows.length, events.length, 'one delivery per event (no filter)')
    assert.deepEqual(new Set(rows.map(row => row.event_type)), new Set(['user.created', 'login.succeeded', 'token.refreshed', 'login.failed']))
    const { delivered, duplicates } = tally(receiver.received)
    assert.ok(receiver.received.every(r => r.error === undefined), `every request verified: ${receiver.received.map(r => r.error).join(', ')}`)
    assert.equal(delivered, rows.length)
    assert.deepEqual(duplicates, [])
    for (const r of receiver.received) {
      // webhook-id is the event's id; the body is the event, as stored.
      assert.equal(r.payload!.data.id, r.id)
      assert.equal(r.payload!.type, r.payload!.data.type)
      assert.match(r.signature, /^v1,[A-Za-z0-9+/]+=*$/)
      assert.equal(r.headers['content-type'], 'application/json')
    }
    const example = receiver.received.find(r => r.payload?.type === 'user.created')!
    t.diagnostic(`one instance: ${rows.length} events queued, ${delivered} delivered, ${duplicates.length} duplicates`)
    t.diagnostic(`example: webhook-id: ${example.id} webhook-timestamp: ${example.timestamp} webhook-signature: ${example.signature} body: ${example.body}`)
  })

  it('a forged or altered delivery is refused by the receiver', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const app = await webhookApp(t, { url: receiver.url, secret })
    await registerUser(app)
    await allSent(app)
    const genuine = receiver.received[0]!
    const headers = { 'webhook-id': genuine.id, 'webhook-timestamp': genuine.timestamp, 'webhook-signature': genuine.signature }
    assert.doesNotThrow(() => receiver.verifier.verify(genuine.body, headers))
    // Altered body, another id, a signature made with another secret: all refused.
    assert.throws(() => receiver.verifier.verify(genuine.body.replace('user.created', 'user.deleted'), headers), /signature/i)
    assert.throws(() => receiver.verifier.verify(genuine.body, { ...headers, 'webhook-id': 'msg_other' }), /signature/i)
    const forged = new Webhook(newSecret()).sign(genuine.id, new Date(), genuine.body)
    assert.throws(() => receiver.verifier.verify(genuine.body, { ...headers, 'webhook-signature': forged, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) }), /signature/i)
  })

  it('a replayed delivery is refused: the timestamp is signed, and old ones are too old', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const app = await webhookApp(t, { url: receiver.url, secret })
    await registerUser(app)
    await allSent(app)
    const genuine = receiver.received[0]!
    // A captured request replayed a minute later with its timestamp moved on: the signature no longer matches.
    const later = String(Number(genuine.timestamp) + 60)
    assert.throws(() => receiver.verifier.verify(genuine.body, { 'webhook-id': genuine.id, 'webhook-timestamp': later, 'webhook-signature': genuine.signature }), /signature/i)
    // The same request ten minutes later (signed then): outside the library's 5-minute tolerance.
    const then = new Date(Date.now() - 10 * 60_000)
    const old = { 'webhook-id': genuine.id, 'webhook-timestamp': String(Math.floor(then.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(genuine.id, then, genuine.body) }
    assert.throws(() => receiver.verifier.verify(genuine.body, old), /too old/i)
  })

  it('receiver down: deliveries wait and are retried, then each arrives once', async (t) => {
    const secret = newSecret()
    const port = await freePort()
    const app = await webhookApp(t, { url: `http://127.0.0.1:${port}/hooks`, secret })
    for (let i = 0; i < 5; i++) await registerUser(app)
    // Refused connections, retried with backoff.
    const failing = await eventually(() => app.db.selectFrom('webhook_deliveries').selectAll().execute(), rows => rows.length === 5 && rows.every(row => row.attempts >= 2))
    assert.ok(failing.every(row => row.attempts >= 2 && row.sent_at === null && row.last_error !== null), JSON.stringify(failing.map(row => [row.attempts, row.last_error])))
    const receiver = await startReceiver(t, secret, undefined, port)
    const rows = await allSent(app)
    const { delivered, duplicates } = tally(receiver.received)
    assert.equal(delivered, 5)
    assert.deepEqual(duplicates, [])
    t.diagnostic(`receiver down: 5 events queued, ${delivered} delivered after ${Math.max(...rows.map(row => row.attempts))} attempts at most, ${duplicates.length} duplicates`)
  })

  it('slow receiver: a send past the timeout is aborted and retried, and no answer waits for it', async (t) => {
    const secret = newSecret()
    let release: (() => void) | undefined
    const held = new Promise<void>(resolve => { release = resolve })
    // The first request hangs until the test ends (far past the 300 ms send timeout); the rest answer at once.
    const receiver = await startReceiver(t, secret, n => n === 0 ? { status: 204, delayMs: 5000 } : { status: 204 })
    t.after(() => release?.())
    const app = await webhookApp(t, { url: receiver.url, secret })
    await registerUser(app)
    await eventually(async () => receiver.received.length, n => n >= 1)
    // While the receiver holds the first delivery, requests are answered as usual.
    const started = Date.now()
    const { user: second } = await registerUser(app)
    const answeredInMs = Date.now() - started
    assert.ok(second.id !== undefined)
    assert.ok(receiver.received.length >= 1)
    const rows = await allSent(app)
    const first = rows.find(row => row.event_type === 'user.created' && row.id === receiver.received[0]!.id)!
    assert.ok(first.attempts >= 2, `the aborted delivery was retried (${first.attempts} attempts)`)
    // The receiver saw the first id twice (at least once: it deduplicates by webhook-id); the aborted answer never counted.
    const { delivered, duplicates } = tally(receiver.received, (_, i) => i > 0)
    assert.equal(delivered, rows.length)
    assert.deepEqual(duplicates, [])
    t.diagnostic(`slow receiver: ${rows.length} events queued, ${delivered} delivered (1 attempt aborted after 300 ms and retried), 0 duplicates; an answer meanwhile took ${answeredInMs} ms`)
    release?.()
    await held
  })

  it('500 then 200: retried with the same webhook-id, delivered once', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret, n => ({ status: n === 0 ? 500 : 200 }))
    const app = await webhookApp(t, { url: receiver.url, secret })
    await registerUser(app)
    const [row] = await allSent(app)
    assert.equal(row!.attempts, 2)
    assert.equal(row!.last_status, 200)
    assert.equal(receiver.received.length, 2)
    assert.equal(receiver.received[0]!.id, receiver.received[1]!.id, 'a retry keeps the id')
    assert.ok(receiver.received.every(r => r.payload !== undefined), 'both attempts verified (each signed anew)')
    const { delivered, duplicates } = tally(receiver.received, (_, i) => i > 0)
    assert.equal(delivered, 1)
    assert.deepEqual(duplicates, [])
  })

  it('429 with Retry-After: the next attempt waits as long as asked, not the 50 ms backoff', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret, n => n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 })
    const app = await webhookApp(t, { url: receiver.url, secret })
    await registerUser(app)
    await allSent(app)
    const waited = receiver.received[1]!.at - receiver.received[0]!.at
    assert.ok(waited >= 950, `retried after ${waited} ms`)
    assert.ok(waited < 3000, `retried after ${waited} ms`)
  })

  it('a restart loses none: deliveries queued by a stopped instance are sent by the next', async (t) => {
    const secret = newSecret()
    const port = await freePort()
    const databaseUrl = await durableDatabaseUrl(t)
    const url = `http://127.0.0.1:${port}/hooks`
    // The first instance queues events but never delivers (it stops first: a crash or a deploy).
    const first = await webhookApp(t, { url, secret, databaseUrl, start: false })
    const names = [uniqueName(), uniqueName(), uniqueName()]
    for (const username of names) await registerUser(first, { username })
    await first.close()

    const receiver = await startReceiver(t, secret, undefined, port)
    const second = await webhookApp(t, { url, secret, databaseUrl })
    const rows = await allSent(second)
    assert.equal(rows.length, 3)
    const { delivered, duplicates } = tally(receiver.received)
    assert.equal(delivered, 3)
    assert.deepEqual(duplicates, [])
    assert.deepEqual(receiver.received.map(r => (r.payload!.data.data as { username: string }).username).sort(), [...names].sort())
  })

  it('an instance that dies holding a claim: the claim lapses and another worker sends the delivery', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const app = await webhookApp(t, { url: receiver.url, secret, start: false, worker: { leaseMs: 400, sendTimeoutMs: 300 } })
    await registerUser(app)
    // A worker of a dead instance claimed it (for 400 ms) and never marked it.
    const claimed = await app.authCore.store.webhooks!.claim('dead-instance:1', Date.now(), 400, 10)
    assert.equal(claimed.length, 1)
    app.webhookOutbox.start()
    const [row] = await allSent(app)
    assert.equal(row!.attempts, 2, 'the dead claim counted as an attempt')
    assert.notEqual(row!.claimed_by, 'dead-instance:1')
    assert.ok(row!.sent_at! - claimed[0]!.claimed_until! >= 0, 'sent only once the claim had lapsed')
    assert.equal(tally(receiver.received).delivered, 1)
  })

  it('WEBHOOK_EVENTS filters: only the listed types are queued (every event is still stored)', async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const app = await webhookApp(t, { url: receiver.url, secret, env: { WEBHOOK_EVENTS: 'user.created, password.changed' } })
    const { user } = await registerUser(app)
    assert.equal((await passwordGrant(app, user.username)).statusCode, 200)
    const rows = await allSent(app)
    assert.deepEqual(rows.map(row => row.event_type), ['user.created'])
    const stored = await app.db.selectFrom('audit_events').select('type').execute()
    assert.deepEqual(stored.map(row => row.type).sort(), ['login.succeeded', 'user.created'])
  })
})
