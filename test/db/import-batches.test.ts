import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest } from '../../src/db/migrations.js'
import type { Database } from '../../src/db/tables.js'
import { BATCH } from '../../src/db/batches.js'
import { DuplicateUserError } from '../../src/errors.js'
import { createSqlStore } from '../../src/stores/sql-store.js'
import { durableDatabaseUrl } from '../helper.js'

/*
 * users.createMany (the import's writer) commits in batches of BATCH.rows so that no writer waits
 * for the whole import (issue 18), and is still all or nothing (CONTRACT.md "Importing users"):
 * a batch that fails — a name registered while the import ran — removes the rows stored before it.
 */
const BCRYPT = '$2b$12$NJfx8cMCLjcte8aUEJ8Vk.dUMuki72oodIHAMy1HdIAEV8Ug7kOy2'
const ROWS = BATCH.rows * 2 + 10 // three batches

const countOf = async (db: Kysely<Database>) => Number((await sql<{ n: number | string }>`select count(*) as n from users`.execute(db)).rows[0]?.n)

async function store (t: TestContext) {
  const url = await durableDatabaseUrl(t)
  const { db } = createDatabase(url)
  t.after(() => db.destroy())
  await migrateToLatest(db)
  // Another connection (another process would see the same): the counts it saw while `work` ran, and the most.
  const { db: other } = createDatabase(url)
  t.after(() => other.destroy())
  const mostSeenDuring = async (work: Promise<unknown>) => {
    let done = false
    const isDone = () => done
    const outcome = work.then(() => undefined, (error: unknown) => error).finally(() => { done = true })
    const seen = new Set<number>()
    while (!isDone()) {
      seen.add(await countOf(other))
      await sleep(2)
    }
    return { most: Math.max(0, ...seen), seen: [...seen], outcome: await outcome }
  }
  return { users: createSqlStore(db).users, count: () => countOf(db), mostSeenDuring }
}

const newUsers = (n: number) => Array.from({ length: n }, (_, i) => ({
  username: `batch${String(i).padStart(6, '0')}`, email: `batch${i}@example.com`, password_hash: BCRYPT
}))

describe('users.createMany: in batches, all or nothing', () => {
  it('stores every row, in the order given back, each with its own id', async (t) => {
    const { users, count, mostSeenDuring } = await store(t)
    const input = newUsers(ROWS).reverse()
    let created: Awaited<ReturnType<typeof users.createMany>> = []
    const { seen, outcome } = await mostSeenDuring(users.createMany(input).then(value => { created = value }))
    assert.equal(outcome, undefined)
    // A count between none and all: a batch committed on its own (a poll may also land after the last one).
    assert.ok(seen.some(n => n > 0 && n < ROWS), `another connection saw the import grow batch by batch (it saw ${seen.sort((a, b) => a - b).join(', ')} of ${ROWS})`)
    assert.equal(await count(), ROWS)
    assert.deepEqual(created.map(u => u.username), input.map(u => u.username))
    assert.equal(new Set(created.map(u => u.id)).size, ROWS)
    for (const user of [created[0]!, created[ROWS - 1]!]) {
      assert.equal((await users.findById(user.id))?.username, user.username, 'the id returned is the id stored')
    }
  })

  it('removes the batches already stored when a later one fails (a name taken meanwhile), and throws DuplicateUserError', async (t) => {
    const { users, count, mostSeenDuring } = await store(t)
    // Taken "meanwhile": the import checks names before it writes, so createMany meets it as a race would.
    const rival = await users.create({ username: 'batch999999', password_hash: BCRYPT })
    const input = [...newUsers(ROWS), { username: 'BATCH999999', password_hash: BCRYPT }] // sorts last: the third batch fails
    const { most, outcome } = await mostSeenDuring(users.createMany(input))
    assert.ok(outcome instanceof DuplicateUserError && outcome.field === 'username', String(outcome))
    assert.ok(most > 1, `the batches before the failing one were stored (another connection saw ${most} users at most)`)
    assert.equal(await count(), 1, 'nothing of the import is left')
    assert.equal((await users.findByLogin('batch999999'))?.id, rival.id)
  })
})
