import { PostgresAdapter, type Kysely, type Updateable } from 'kysely'
import type { QueueColumns } from './tables.js'

/** The table as the queries see it: any table with the claim columns, under one type-level name. */
interface QueueDatabase { queue: QueueColumns }

/**
 * The claim machinery of an outbox table (mail_outbox, webhook_deliveries), written once: rows
 * are claimed by one worker at a time, whichever instance it runs in, then marked sent, retried
 * later or given up. `R` is the table's row type.
 */
export interface ClaimQueue<R extends QueueColumns> {
  /**
   * Claims up to `limit` due rows (unsent, not given up, next attempt reached, no live claim) for
   * `claimId` until `now + leaseMs`, counting the attempt. Two workers never hold a claim on one
   * row at once: PostgreSQL skips rows another instance is claiming (FOR UPDATE SKIP LOCKED);
   * SQLite runs one conditional UPDATE (one writer at a time).
   */
  claim (claimId: string, now: number, leaseMs: number, limit: number): Promise<R[]>
  /** Marks a row this claim holds sent, with `also` (e.g. an erased body). False if the claim was lost. */
  sent (id: string, claimId: string, now: number, also?: Updateable<R>): Promise<boolean>
  /**
   * Records a failed attempt of a row this claim holds: retried from `retryAt` (epoch ms), or given
   * up when `retryAt` is null; `also` on top. False if the claim was lost.
   */
  failed (id: string, claimId: string, error: string, retryAt: number | null, now: number, also?: Updateable<R>): Promise<boolean>
  /** Deletes rows sent or given up before `before` (epoch ms); the number deleted. */
  purge (before: number): Promise<number>
}

/** A ClaimQueue over `table` (its claim columns: QueueColumns) in `db`. */
export function createClaimQueue<R extends QueueColumns> (db: Kysely<any>, table: string): ClaimQueue<R> {
  const qdb = db as Kysely<QueueDatabase>
  const name = table as 'queue'
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  /** Unsent, not given up, its next attempt reached, and no live claim on it. */
  const due = (trx: Kysely<QueueDatabase>, now: number, limit: number) => trx.selectFrom(name).select('id')
    .where('sent_at', 'is', null).where('failed_at', 'is', null).where('next_attempt_at', '<=', now)
    .where(eb => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
    .orderBy('next_attempt_at').limit(limit)

  return {
    async claim (claimId, now, leaseMs, limit) {
      const claimRows = (trx: Kysely<QueueDatabase>, ids: string[] | ReturnType<typeof due>) => trx.updateTable(name)
        .set(eb => ({ claimed_by: claimId, claimed_until: now + leaseMs, attempts: eb('attempts', '+', 1) }))
        .where('id', 'in', ids)
        .returningAll()
        .execute() as Promise<unknown[]> as Promise<R[]>
      if (postgres) {
        // Rows another instance is claiming are skipped, not waited for; the claim commits with the lease.
        return qdb.transaction().execute(async trx => {
          const ids = (await due(trx, now, limit).forUpdate().skipLocked().execute()).map(row => row.id)
          return ids.length === 0 ? [] : claimRows(trx, ids)
        })
      }
      // SQLite has one writer at a time: a single conditional UPDATE is atomic. A read first, so an
      // idle poll writes nothing (a write would also empty the session cache: sql-store.ts).
      if (await due(qdb, now, 1).executeTakeFirst() === undefined) return []
      return claimRows(qdb, due(qdb, now, limit))
    },

    async sent (id, claimId, now, also) {
      const result = await qdb.updateTable(name)
        .set({ ...(also as Updateable<QueueColumns>), sent_at: now, claimed_until: null, last_error: null })
        .where('id', '=', id).where('claimed_by', '=', claimId).where('sent_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async failed (id, claimId, error, retryAt, now, also) {
      const values = retryAt === null
        ? { failed_at: now, claimed_until: null, last_error: error }
        : { next_attempt_at: retryAt, claimed_until: null, last_error: error }
      const result = await qdb.updateTable(name).set({ ...(also as Updateable<QueueColumns>), ...values })
        .where('id', '=', id).where('claimed_by', '=', claimId).where('sent_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async purge (before) {
      const result = await qdb.deleteFrom(name)
        .where(eb => eb.or([eb('sent_at', '<', before), eb('failed_at', '<', before)]))
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}
