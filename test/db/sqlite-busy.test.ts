import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Kysely, sql, type Generated } from 'kysely'
import { openSqlite } from '../../src/db/sqlite.js'
import { BUSY_POLICY, RetryingSqliteDialect } from '../../src/db/sqlite-dialect.js'
import { DatabaseBusyError, isUnavailable } from '../../src/db/errors.js'

/** Rows as plain objects: node:sqlite (Node 22+) returns them without a prototype, which deepEqual tells apart. */
const plain = <T extends object>(rows: T[]) => rows.map(row => ({ ...row }))

/*
 * Issue 18, finding 5: a write lock held by another connection (the CLI's import, a second
 * instance) must never stop this process's event loop, and must not delay its reads at all.
 * The "other process" is a second connection to the same file, holding BEGIN IMMEDIATE: SQLite
 * locks the same way between two connections of one process as between two processes.
 */

interface Tables { t: { id: Generated<number>, v: string } }

function files (t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-busy-'))
  const path = join(dir, 'test.db')
  const app = openSqlite(path)
  const other = openSqlite(path)
  const db = new Kysely<Tables>({ dialect: new RetryingSqliteDialect(app, { waitMs: 3000, maxPauseMs: BUSY_POLICY.maxPauseMs }) })
  t.after(async () => { await db.destroy(); other.close(); rmSync(dir, { recursive: true, force: true }) })
  const exec = (statement: string) => other.prepare(statement).run([])
  exec('create table t (id integer primary key, v text not null)')
  return { db, app, exec }
}

/** The longest gap between ticks of a 5 ms interval while `work` runs: how long the event loop was stopped. */
async function loopStall<T> (work: () => Promise<T>): Promise<{ value: T, stallMs: number }> {
  let last = performance.now()
  let stallMs = 0
  const timer = setInterval(() => {
    const now = performance.now()
    stallMs = Math.max(stallMs, now - last)
    last = now
  }, 5)
  try {
    const value = await work()
    return { value, stallMs: Math.max(stallMs, performance.now() - last) }
  } finally {
    clearInterval(timer)
  }
}

describe('SQLite writes wait for another connection\'s lock on timers, never on the event loop', () => {
  it('a write waits while another connection holds the write lock, the loop keeps running, reads answer at once', async (t) => {
    const { db, exec } = files(t)
    exec("insert into t (id, v) values (1, 'before')")
    exec('begin immediate')
    exec("insert into t (id, v) values (2, 'theirs')")
    const HOLD_MS = 400
    const released = sleep(HOLD_MS).then(() => exec('commit'))
    const { value, stallMs } = await loopStall(async () => {
      const start = performance.now()
      const write = db.insertInto('t').values({ id: 3, v: 'ours' }).execute().then(() => performance.now() - start)
      // While the write waits, reads run on the same connection between its tries.
      const readStart = performance.now()
      const rows = await db.selectFrom('t').select('v').orderBy('id').execute()
      const readMs = performance.now() - readStart
      return { rows, readMs, writeMs: await write }
    })
    await released
    assert.deepEqual(value.rows.map(r => r.v), ['before'], 'the read saw the committed state (WAL), not the other connection\'s open transaction')
    assert.ok(value.readMs < HOLD_MS / 2, `a read waited ${value.readMs.toFixed(0)} ms behind a write waiting for the lock`)
    assert.ok(value.writeMs >= HOLD_MS - 50, `the write waited for the lock (${value.writeMs.toFixed(0)} ms)`)
    assert.ok(stallMs < 150, `the event loop stopped for ${stallMs.toFixed(0)} ms (busy_timeout on a synchronous driver would stop it for ${HOLD_MS} ms)`)
    assert.deepEqual((await db.selectFrom('t').select('v').orderBy('id').execute()).map(r => r.v), ['before', 'theirs', 'ours'])
  })

  it('gives up after its wait with DatabaseBusyError, which counts as unavailable (503)', async (t) => {
    const { app, exec } = files(t)
    const db = new Kysely<Tables>({ dialect: new RetryingSqliteDialect(app, { waitMs: 200, maxPauseMs: 2 }) })
    exec('begin immediate')
    try {
      const { value: error, stallMs } = await loopStall(() => db.insertInto('t').values({ id: 1, v: 'x' }).execute().then(() => undefined, (e: unknown) => e))
      assert.ok(error instanceof DatabaseBusyError, String(error))
      assert.ok(isUnavailable(error))
      assert.ok(stallMs < 150, `the event loop stopped for ${stallMs.toFixed(0)} ms`)
      // Reads still answer while the other connection keeps the lock.
      assert.deepEqual(await db.selectFrom('t').select('v').execute(), [])
    } finally {
      exec('rollback')
    }
  })

  it('many writes waiting for the lock: only the first in line keeps trying, and all of them get through, in order', async (t) => {
    const { app, exec } = files(t)
    let tries = 0
    const counted = {
      close: () => app.close(),
      prepare (statement: string) {
        const prepared = app.prepare(statement)
        return { reader: prepared.reader, all: prepared.all, run: (parameters: readonly unknown[]) => { tries++; return prepared.run(parameters as unknown[]) } }
      }
    }
    const db = new Kysely<Tables>({ dialect: new RetryingSqliteDialect(counted, { waitMs: 3000, maxPauseMs: 1 }) })
    const HOLD_MS = 300
    const WRITERS = 30
    exec('begin immediate')
    const released = sleep(HOLD_MS).then(() => exec('commit'))
    await Promise.all(Array.from({ length: WRITERS }, (_, i) => db.insertInto('t').values({ v: `w${i}` }).execute()))
    await released
    assert.deepEqual((await db.selectFrom('t').select('v').orderBy('id').execute()).map(r => r.v), Array.from({ length: WRITERS }, (_, i) => `w${i}`))
    // One try each at first, one per pause for the first in line while the lock is held (at most
    // HOLD_MS of them), one more each when their turn comes. Each trying on its own: WRITERS * HOLD_MS.
    assert.ok(tries < 2 * WRITERS + 2 * HOLD_MS, `${tries} tries for ${WRITERS} writes waiting ${HOLD_MS} ms`)
  })

  it('begins transactions IMMEDIATE: the write lock is taken at BEGIN, where waiting is safe', async (t) => {
    const { db, exec } = files(t)
    await db.transaction().execute(async trx => {
      await trx.selectFrom('t').select('id').execute() // only a read so far: a deferred transaction would hold no write lock
      assert.throws(() => exec("insert into t (id, v) values (9, 'other')"), (e: Error & { code?: string, errcode?: number }) => e.code === 'SQLITE_BUSY' || e.errcode === 5)
      await trx.insertInto('t').values({ id: 1, v: 'ours' }).execute()
    })
    assert.deepEqual(plain(await db.selectFrom('t').select('v').execute()), [{ v: 'ours' }])
  })

  it('a transaction waits for another connection\'s lock at BEGIN and then commits', async (t) => {
    const { db, exec } = files(t)
    exec('begin immediate')
    const released = sleep(200).then(() => exec('commit'))
    await db.transaction().execute(async trx => {
      await trx.insertInto('t').values({ id: 1, v: 'a' }).execute()
      await trx.insertInto('t').values({ id: 2, v: 'b' }).execute()
    })
    await released
    assert.equal((await db.selectFrom('t').select('id').execute()).length, 2)
  })

  it('statements of other callers never run inside an open transaction: they wait for its end', async (t) => {
    const { db } = files(t)
    let outside: Promise<unknown> | undefined
    await assert.rejects(db.transaction().execute(async trx => {
      await trx.insertInto('t').values({ id: 1, v: 'rolled back' }).execute()
      outside = db.insertInto('t').values({ id: 2, v: 'outside' }).execute()
      await sleep(20)
      throw new Error('roll back')
    }), /roll back/)
    await outside
    assert.deepEqual(plain(await db.selectFrom('t').select('v').execute()), [{ v: 'outside' }], 'the write outside the transaction survived its rollback')
  })

  it('transactions run one after another', async (t) => {
    const { db } = files(t)
    const order: string[] = []
    await Promise.all(['a', 'b', 'c'].map(name => db.transaction().execute(async trx => {
      order.push(`${name}:begin`)
      await sleep(5)
      await trx.insertInto('t').values({ v: name }).execute()
      order.push(`${name}:end`)
    })))
    assert.deepEqual(order, ['a:begin', 'a:end', 'b:begin', 'b:end', 'c:begin', 'c:end'])
    assert.equal((await sql<{ n: number }>`select count(*) as n from t`.execute(db)).rows[0]?.n, 3)
  })
})
