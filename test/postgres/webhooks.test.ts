import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { isolatedDatabaseUrl } from '../helper.js'
import { allSent, newSecret, startReceiver, webhookApp } from '../webhooks/receiver.js'

/*
 * W9 (docs/threat-model.md): two instances on one PostgreSQL database, each with its webhook
 * worker polling every 10 ms in batches of 4 so that their claims collide, deliver a few hundred
 * events, each exactly once. The claim is the mail outbox's (src/db/claim-queue.ts); the same
 * check on a naive claim finds duplicates (test/postgres/mail-outbox.test.ts).
 */
const POSTGRES = process.env.TEST_DATABASE_URL?.startsWith('postgres') === true
const WORKER = { intervalMs: 10, batchSize: 4, backoffBaseMs: 50, backoffMaxMs: 200 }
const PER_INSTANCE = 200

describe('two instances delivering webhooks on PostgreSQL', { skip: POSTGRES ? false : 'needs TEST_DATABASE_URL=postgres://… (scripts/with-postgres.sh)' }, () => {
  it(`deliver ${PER_INSTANCE} events each, every one exactly once`, async (t) => {
    const secret = newSecret()
    const receiver = await startReceiver(t, secret)
    const databaseUrl = await isolatedDatabaseUrl()
    const a = await webhookApp(t, { url: receiver.url, secret, databaseUrl, worker: WORKER })
    const b = await webhookApp(t, { url: receiver.url, secret, databaseUrl, worker: WORKER })

    // Events on both instances while both workers run, some in parallel.
    const apps: FastifyInstance[] = [a, b]
    await Promise.all(apps.map(async (app, n) => {
      for (let i = 0; i < PER_INSTANCE; i += 10) {
        await app.authCore.events.record(Array.from({ length: 10 }, (_, j) => ({ type: 'user.updated' as const, user_id: `instance-${n}-${i + j}`, data: { fields: ['full_name'] } })))
      }
    }))

    const rows = await allSent(a, 1500)
    assert.equal(rows.length, 2 * PER_INSTANCE, 'every event queued')
    assert.ok(rows.every(row => row.sent_at !== null), `all sent: ${rows.filter(row => row.sent_at === null).length} left`)
    const counts = new Map<string, number>()
    for (const r of receiver.received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1)
    const duplicates = [...counts].filter(([, n]) => n > 1)
    assert.ok(receiver.received.every(r => r.payload !== undefined), 'every request verified')
    assert.deepEqual(duplicates, [], 'no event delivered twice')
    assert.equal(counts.size, 2 * PER_INSTANCE)
    assert.ok(rows.every(row => row.attempts === 1), 'each on its first attempt')
    const perWorker = new Map<string, number>()
    for (const row of rows) { const w = row.claimed_by!.split(':')[0]!; perWorker.set(w, (perWorker.get(w) ?? 0) + 1) }
    assert.equal(perWorker.size, 2, `deliveries per worker: ${JSON.stringify([...perWorker])}`)
    t.diagnostic(`two instances: ${rows.length} events queued, ${counts.size} delivered, ${duplicates.length} duplicates; per instance's worker: ${[...perWorker.values()].join(' and ')}`)
  })
})
