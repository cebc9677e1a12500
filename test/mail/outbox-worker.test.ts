import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest } from '../../src/db/migrations.js'
import { backoffMs, createOutboxWorker, isPermanentFailure, type WorkerLog } from '../../src/mail/outbox-worker.js'
import { OutboxWorkerSettings } from '../../src/schemas/mail-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import type { OutboxRecord } from '../../src/stores/mail-store.js'
import { createSqlMailStore } from '../../src/stores/sql-mail-store.js'
import { eventually, sqliteFile } from '../helper.js'

/* The outbox worker alone (src/mail/outbox-worker.ts), on the SQL store, with a transport of the test's own. */

const quiet: WorkerLog = { info () {}, warn () {}, error () {} }
const settings = (overrides: Partial<OutboxWorkerSettings> = {}) => parseOrThrow(OutboxWorkerSettings, {
  intervalMs: 20, backoffBaseMs: 40, backoffMaxMs: 160, sendTimeoutMs: 2000, leaseMs: 5000, closeTimeoutMs: 200, ...overrides
}, problems => new Error(problems.join('; ')))

async function database (t: TestContext, url = 'sqlite::memory:') {
  const { db } = createDatabase(url)
  t.after(() => db.destroy())
  await migrateToLatest(db)
  return db
}

let counter = 0
/** Queues a message directly, as the token transaction does. */
async function enqueue (db: Awaited<ReturnType<typeof database>>, fields: Partial<OutboxRecord> = {}) {
  const now = Date.now()
  const id = `message-${process.pid}-${++counter}`
  await db.insertInto('mail_outbox').values({
    id, recipient: 'someone@example.com', subject: 'hello', text: 'secret link', html: null, created_at: now, expires_at: null, attempts: 0, next_attempt_at: now, ...fields
  }).execute()
  return id
}
const row = (db: Awaited<ReturnType<typeof database>>, id: string) => db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

describe('backoffMs', () => {
  const base = { backoffBaseMs: 1000, backoffMaxMs: 60_000 }
  for (const [attempts, expected] of [[1, 1000], [2, 2000], [3, 4000], [6, 32_000], [7, 60_000], [500, 60_000]] as const) {
    it(`waits ${expected} ms after ${attempts} failed attempt(s)`, () => assert.equal(backoffMs(attempts, base), expected))
  }
})

describe('isPermanentFailure', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['a 550 to the recipient', { code: 'EENVELOPE', responseCode: 550 }, true],
    ['a 554 to the message', { code: 'EMESSAGE', responseCode: 554 }, true],
    ['a 451 (try later)', { code: 'EENVELOPE', responseCode: 451 }, false],
    ['a refused login (535: the operator fixes SMTP_URL)', { code: 'EAUTH', responseCode: 535 }, false],
    ['a refused connection', { code: 'ESOCKET', message: 'connect ECONNREFUSED' }, false],
    ['a timeout', new Error('timeout'), false]
  ]
  for (const [name, error, permanent] of cases) it(`${permanent ? 'gives up' : 'retries'} on ${name}`, () => assert.equal(isPermanentFailure(error), permanent))
})

describe('the outbox worker', () => {
  it('sends a queued message once, marks it sent and erases its body', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const sent: string[] = []
    const worker = createOutboxWorker({ outbox: createSqlMailStore(db).outbox, settings: settings(), log: quiet, send: async m => { sent.push(m.id) } })
    assert.deepEqual(await worker.runOnce(), { sent: 1, failed: 0 })
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 0 })
    assert.deepEqual(sent, [id])
    const done = await row(db, id)
    assert.ok(done.sent_at !== null)
    assert.equal(done.text, '')
    assert.equal(done.html, null)
    assert.equal(done.attempts, 1)
  })

  it('records each failure and retries after an exponential backoff, until the server takes it', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const attempts: number[] = []
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox,
      settings: settings(),
      log: quiet,
      send: async () => {
        attempts.push(Date.now())
        if (attempts.length < 4) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ESOCKET' })
      }
    })
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 1 })
    const failed = await row(db, id)
    assert.equal(failed.attempts, 1)
    assert.equal(failed.sent_at, null)
    assert.equal(failed.failed_at, null)
    assert.match(failed.last_error ?? '', /ESOCKET: connect ECONNREFUSED/)
    assert.ok(failed.next_attempt_at >= attempts[0]! + 40, 'the next attempt waits the base delay')
    assert.equal(failed.text, 'secret link', 'the body stays until sent')

    // Not due yet: nothing is sent; then the attempts come at 40, 80, 160 ms.
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 0 })
    worker.start()
    t.after(() => worker.stop())
    const sent = await eventually(() => row(db, id), row => row.sent_at !== null)
    assert.ok(sent.sent_at !== null, 'sent once the server took it')
    assert.equal(sent.attempts, 4)
    assert.equal(sent.last_error, null)
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!)
    assert.deepEqual(gaps.map((gap, i) => gap >= 40 * 2 ** i), [true, true, true], `gaps ${gaps.join(', ')} ms`)
  })

  it('gives up a message the server refuses for good, and erases its body', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox,
      settings: settings(),
      log: quiet,
      send: async () => { throw Object.assign(new Error('550 no such mailbox'), { code: 'EENVELOPE', responseCode: 550 }) }
    })
    await worker.runOnce()
    const given = await row(db, id)
    assert.ok(given.failed_at !== null)
    assert.equal(given.text, '')
    assert.match(given.last_error ?? '', /550/)
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 0 })
  })

  it('gives up after maxAttempts, and a message whose link has expired without sending it', async (t) => {
    const db = await database(t)
    const retried = await enqueue(db)
    const expired = await enqueue(db, { expires_at: Date.now() - 1 })
    const sent: string[] = []
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox,
      settings: settings({ maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 1 }),
      log: quiet,
      send: async m => { sent.push(m.id); throw new Error('timeout') }
    })
    await worker.runOnce()
    await sleep(5)
    await worker.runOnce()
    assert.deepEqual(sent, [retried, retried])
    assert.equal((await row(db, retried)).attempts, 2)
    assert.ok((await row(db, retried)).failed_at !== null)
    assert.ok((await row(db, expired)).failed_at !== null)
    assert.match((await row(db, expired)).last_error ?? '', /expired/)
  })

  it('gives up a retry that would come after the link expires', async (t) => {
    const db = await database(t)
    const id = await enqueue(db, { expires_at: Date.now() + 100 })
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox, settings: settings({ backoffBaseMs: 1000 }), log: quiet, send: async () => { throw new Error('down') }
    })
    await worker.runOnce()
    assert.ok((await row(db, id)).failed_at !== null)
  })

  it('bounds every send by sendTimeoutMs and retries it', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox,
      settings: settings({ sendTimeoutMs: 100 }),
      log: quiet,
      send: (_m, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    })
    const started = Date.now()
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 1 })
    assert.ok(Date.now() - started < 1000)
    assert.match((await row(db, id)).last_error ?? '', /ETIMEDOUT: no answer within 100 ms/)
  })

  it('stops on close: waits closeTimeoutMs for a send in progress, then aborts it and the message stays queued', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const state = { sending: false }
    const worker = createOutboxWorker({
      outbox: createSqlMailStore(db).outbox,
      settings: settings({ closeTimeoutMs: 100 }),
      log: quiet,
      send: (_m, signal) => new Promise((_resolve, reject) => { state.sending = true; signal.addEventListener('abort', () => reject(signal.reason)) })
    })
    worker.start()
    // Polled with a timer that holds the process: the worker's own timer does not (it never keeps an app alive).
    while (!state.sending) await sleep(5)
    const stopping = Date.now()
    await worker.stop()
    assert.ok(Date.now() - stopping < 1000)
    const left = await row(db, id)
    assert.equal(left.sent_at, null)
    assert.equal(left.failed_at, null)
    assert.equal(left.claimed_until, null, 'released for the next instance')
  })

  it('never lets two workers on one SQLite file claim the same message', async (t) => {
    const url = sqliteFile(t)
    const [a, b] = [await database(t, url), await database(t, url)]
    const ids = new Set<string>()
    for (let i = 0; i < 60; i++) ids.add(await enqueue(a))
    const sends: string[] = []
    const send = async (m: OutboxRecord) => { sends.push(m.id); await sleep(1) }
    const workers = [a, b, a, b].map(db => createOutboxWorker({ outbox: createSqlMailStore(db).outbox, settings: settings({ batchSize: 3 }), log: quiet, send }))
    await Promise.all(workers.map(w => w.runOnce()))
    assert.equal(sends.length, 60)
    assert.deepEqual(new Set(sends), ids)
  })

  it('takes over a message whose claim lapsed (an instance died while sending it)', async (t) => {
    const db = await database(t)
    const id = await enqueue(db)
    const outbox = createSqlMailStore(db).outbox
    assert.equal((await outbox.claim('dead-instance', Date.now(), 50, 10)).length, 1)
    const sent: string[] = []
    const worker = createOutboxWorker({ outbox, settings: settings(), log: quiet, send: async m => { sent.push(m.id) } })
    assert.deepEqual(await worker.runOnce(), { sent: 0, failed: 0 }, 'claimed by another')
    await sleep(60)
    assert.deepEqual(await worker.runOnce(), { sent: 1, failed: 0 })
    assert.deepEqual(sent, [id])
    assert.equal(await outbox.sent(id, 'dead-instance', Date.now()), false, 'the lapsed claim marks nothing')
  })
})
