import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../../src/db/tables.js'
import { createOutboxWorker, type WorkerLog } from '../../src/mail/outbox-worker.js'
import { OutboxWorkerSettings } from '../../src/schemas/mail-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import type { OutboxStore } from '../../src/stores/mail-store.js'
import { createSqlMailStore } from '../../src/stores/sql-mail-store.js'
import { eventually, isolatedDatabaseUrl } from '../helper.js'
import { buildMailApp, postJson, registerWithEmail } from '../mail/helpers.js'
import { startSmtp } from '../mail/smtp.js'

/*
 * Several instances sending from one outbox on one PostgreSQL database (CONTRACT.md "E-mails",
 * issue 13): every message reaches the mail server exactly once. Each instance is an app of its
 * own with its own connection pool and worker, polling every 10 ms in small batches so that their
 * claims collide. On SQLite one process writes at a time; the claim there is covered in
 * test/mail/outbox-worker.test.ts (two workers on one file).
 */
const POSTGRES = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true
const WORKER = { intervalMs: 10, batchSize: 4, backoffBaseMs: 50, backoffMaxMs: 200 }
const MESSAGES = 150

/** Queues messages as the token transaction does (the worker sends whatever the outbox holds). */
async function enqueue (db: Kysely<Database>, count: number, prefix: string) {
  const now = Date.now()
  const rows = Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    recipient: `bulk-${i}@example.com`,
    subject: `message ${i}`,
    text: `body ${i}`,
    html: null,
    created_at: now,
    expires_at: null,
    attempts: 0,
    next_attempt_at: now
  }))
  await db.insertInto('mail_outbox').values(rows).execute()
  return rows.map(row => row.id)
}

/** The Message-IDs the server received, and how often each. */
function countIds (messageIds: Array<string | undefined>) {
  const counts = new Map<string, number>()
  for (const id of messageIds) counts.set(id ?? 'none', (counts.get(id ?? 'none') ?? 0) + 1)
  return counts
}

describe('two instances sending from one outbox on PostgreSQL', { skip: POSTGRES ? false : 'needs TEST_DATABASE_URL=postgres://… (scripts/with-postgres.sh); SQLite has one writer, see test/mail/outbox-worker.test.ts' }, () => {
  it('send every message exactly once', async (t) => {
    const smtp = await startSmtp(t)
    const databaseUrl = await isolatedDatabaseUrl()
    const env = { SMTP_URL: smtp.url, EMAIL_COOLDOWN_SECONDS: '0', TOKEN_RATE_LIMIT: '0' }
    const a = await buildMailApp(t, { env, worker: WORKER, databaseUrl })
    const b = await buildMailApp(t, { env, worker: WORKER, databaseUrl })

    // Requests to both instances queue messages while both workers run...
    const users = []
    for (let i = 0; i < 6; i++) users.push(await registerWithEmail(i % 2 === 0 ? a : b, 'pair'))
    const apps: FastifyInstance[] = [a, b]
    const answers = await Promise.all(users.map((user, i) => postJson(apps[i % 2]!, '/forgot-password', { email: user.email })))
    assert.deepEqual(answers.map(r => r.statusCode), users.map(() => 202))
    // ...and a backlog lands at once, as after an outage.
    const bulk = await enqueue(a.db, MESSAGES, `bulk-${process.pid}`)

    const expected = MESSAGES + users.length * 2 // the backlog, a verification and a reset per user
    await smtp.waitFor(undefined, expected, 30_000)
    await sleep(300) // time for any duplicate to arrive
    const counts = countIds(smtp.received.map(m => m.headers['message-id']))
    const duplicates = [...counts].filter(([, n]) => n > 1)
    assert.deepEqual(duplicates, [], 'no message sent twice')
    assert.equal(smtp.received.length, expected)
    for (const id of bulk) assert.equal(counts.get(`<${id}@127.0.0.1>`), 1, id)

    const rows = await eventually(() => a.db.selectFrom('mail_outbox').select(['id', 'attempts', 'sent_at', 'claimed_by']).execute(), rows => rows.every(row => row.sent_at !== null))
    assert.ok(rows.every(row => row.sent_at !== null && row.attempts === 1), 'each sent on its first attempt')
    // Both instances did part of the work (otherwise the test proved nothing about two of them).
    const perWorker = countIds(rows.map(row => row.claimed_by?.split(':')[0]))
    assert.equal(perWorker.size, 2, `messages per worker: ${JSON.stringify([...perWorker])}`)
    t.diagnostic(`messages sent per instance: ${[...perWorker.values()].join(' and ')}`)
  })

  it('finds duplicates when the claim is naive (select, then update): the check above can fail', async (t) => {
    const databaseUrl = await isolatedDatabaseUrl()
    const app = await buildMailApp(t, { databaseUrl, worker: { intervalMs: 3_600_000 } })
    const ids = await enqueue(app.db, 40, `naive-${process.pid}`)
    const real = createSqlMailStore(app.db).outbox
    // What SKIP LOCKED and the lease prevent: two workers read the same due rows before either marks them.
    const naive: OutboxStore = {
      ...real,
      async claim (claimId, now, leaseMs, limit) {
        const due = await app.db.selectFrom('mail_outbox').select('id').where('sent_at', 'is', null).orderBy('next_attempt_at').limit(limit).execute()
        await sleep(5)
        if (due.length === 0) return []
        return app.db.updateTable('mail_outbox').set({ claimed_by: claimId, claimed_until: now + leaseMs })
          .where('id', 'in', due.map(row => row.id)).returningAll().execute()
      }
    }
    const sent: string[] = []
    const quiet: WorkerLog = { info () {}, warn () {}, error () {} }
    const settings = parseOrThrow(OutboxWorkerSettings, { batchSize: 4 }, problems => new Error(problems.join('; ')))
    const workers = [0, 1].map(() => createOutboxWorker({ outbox: naive, settings, log: quiet, send: async m => { sent.push(m.id) } }))
    await Promise.all(workers.map(w => w.runOnce()))
    assert.ok(sent.length > ids.length, `${sent.length} sends for ${ids.length} messages`)
  })
})
