import { sql, type Kysely, type Selectable } from 'kysely'
import { createClaimQueue } from '../db/claim-queue.js'
import type { AuditEventsTable, Database, WebhookDeliveriesTable } from '../db/tables.js'
import type { AuthEvent, AuthEventType } from '../core/events.js'
import type { AuditStore, StoredEvent, WebhookDeliveryStore } from './auth-store.js'

/** Stored `data` as an object; anything else (damaged by hand) reads as empty rather than failing a listing. */
function parseData (text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

const toEvent = (row: Selectable<AuditEventsTable>): StoredEvent => ({
  id: row.id,
  type: row.type as AuthEventType,
  at: new Date(Number(row.at)).toISOString(),
  user_id: row.user_id,
  actor_id: row.actor_id,
  session_id: row.session_id,
  client_id: row.client_id,
  ip: row.ip,
  user_agent: row.user_agent,
  data: parseData(row.data),
  count: Number(row.count)
})

const toRow = (event: AuthEvent, aggregateKey: string | null) => ({
  id: event.id,
  type: event.type,
  at: Date.parse(event.at),
  user_id: event.user_id,
  actor_id: event.actor_id,
  session_id: event.session_id,
  client_id: event.client_id,
  ip: event.ip,
  user_agent: event.user_agent,
  data: JSON.stringify(event.data),
  count: 1,
  aggregate_key: aggregateKey
})

/**
 * The audit log on SQL (SQLite or PostgreSQL), on `db` — a transaction's when the store was
 * made for one (createSqlStore's `transaction`), so events commit with their change.
 */
export function createSqlAuditStore (db: Kysely<Database>): AuditStore {
  const deliveryRow = (event: AuthEvent, payload: string) => ({
    id: event.id, event_id: event.id, event_type: event.type, payload, created_at: Date.parse(event.at), expires_at: null, attempts: 0, next_attempt_at: Date.parse(event.at)
  })

  return {
    async record (entries) {
      const plain = entries.filter(entry => entry.aggregateKey === undefined)
      if (plain.length > 0) await db.insertInto('audit_events').values(plain.map(entry => toRow(entry.event, null))).execute()
      for (const entry of entries) {
        if (entry.aggregateKey === undefined) continue
        // One statement: concurrent failures (even on two instances) each count.
        const row = await db.insertInto('audit_events').values(toRow(entry.event, entry.aggregateKey))
          .onConflict(oc => oc.column('aggregate_key').doUpdateSet({ count: sql`audit_events.count + 1` }))
          .returning('id').executeTakeFirstOrThrow()
        // Only the first of its address and minute is delivered: the outbox does not grow with a flood either.
        if (entry.webhook !== undefined && row.id === entry.event.id) await db.insertInto('webhook_deliveries').values(deliveryRow(entry.event, entry.webhook)).execute()
      }
      const deliveries = plain.filter(entry => entry.webhook !== undefined)
      if (deliveries.length > 0) await db.insertInto('webhook_deliveries').values(deliveries.map(entry => deliveryRow(entry.event, entry.webhook!))).execute()
    },

    async list ({ type, types, userId, since, until, limit, before, after, order = 'desc' }) {
      let query = db.selectFrom('audit_events').selectAll()
      if (type !== undefined) query = query.where('type', '=', type)
      if (types !== undefined) query = query.where('type', 'in', types.length > 0 ? [...types] : [''])
      if (userId !== undefined) query = query.where('user_id', '=', userId)
      if (since !== undefined) query = query.where('at', '>=', since)
      if (until !== undefined) query = query.where('at', '<', until)
      if (before !== undefined) query = query.where(eb => eb.or([eb('at', '<', before.at), eb.and([eb('at', '=', before.at), eb('id', '<', before.id)])]))
      if (after !== undefined) query = query.where(eb => eb.or([eb('at', '>', after.at), eb.and([eb('at', '=', after.at), eb('id', '>', after.id)])]))
      const rows = await query.orderBy('at', order).orderBy('id', order).limit(limit).execute()
      return rows.map(toEvent)
    },

    async purge (before) {
      const result = await db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

/** The receiver's HTTP status carried by a send's outcome or error, if any. */
const statusOf = (value: unknown): number | null => {
  const status = (value as { status?: unknown } | null | undefined)?.status
  return typeof status === 'number' ? status : null
}

/** The webhook outbox on SQL: the mail outbox's claim machinery (../db/claim-queue.ts) on `webhook_deliveries`. */
export function createSqlWebhookStore (db: Kysely<Database>): WebhookDeliveryStore {
  const queue = createClaimQueue<Selectable<WebhookDeliveriesTable>>(db, 'webhook_deliveries')
  return {
    claim: (claimId, now, leaseMs, limit) => queue.claim(claimId, now, leaseMs, limit),
    sent: (id, claimId, now, outcome) => queue.sent(id, claimId, now, { last_status: statusOf(outcome) }),
    failed: (id, claimId, error, retryAt, now, cause) => queue.failed(id, claimId, error, retryAt, now, { last_status: statusOf(cause) }),
    list: limit => db.selectFrom('webhook_deliveries')
      .select(['id', 'event_id', 'event_type', 'created_at', 'expires_at', 'attempts', 'next_attempt_at', 'claimed_until', 'claimed_by', 'sent_at', 'failed_at', 'last_error', 'last_status'])
      .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute(),
    async retry (id, now) {
      const result = await db.updateTable('webhook_deliveries')
        .set({ sent_at: null, failed_at: null, next_attempt_at: now, claimed_until: null })
        .where('id', '=', id).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    purge: before => queue.purge(before)
  }
}
