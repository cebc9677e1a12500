import type { AuditEntry, AuditQuery, AuthStore, StoredEvent } from '../stores/auth-store.js'
import { AUTH_EVENT_TYPES, type AuthEvent, type EventRecorder } from './events.js'

/** The types a user sees of their own trail (GET /users/me/security-events): logins, password, MFA, sessions, locks. */
const SECURITY_PREFIXES = ['login.', 'mfa.', 'password.', 'session.', 'refresh.', 'account.']
export const SECURITY_EVENT_TYPES: readonly string[] = AUTH_EVENT_TYPES.filter(type => SECURITY_PREFIXES.some(prefix => type.startsWith(prefix)))

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

/**
 * The key a failed login of a name that belongs to no account is counted under: its client
 * address and minute. Failures against an account (user_id set) are never aggregated.
 */
export function aggregateKeyOf (event: AuthEvent): string | undefined {
  if (event.type !== 'login.failed' || event.user_id !== null) return undefined
  return `login.failed|${event.ip ?? '-'}|${Math.floor(Date.parse(event.at) / MINUTE_MS)}`
}

/** The Standard Webhooks body of an event: `{type, timestamp, data}` with the whole event as `data`. */
export const webhookPayload = (event: AuthEvent): string => JSON.stringify({ type: event.type, timestamp: event.at, data: event })

/**
 * The audit log of one auth core (issue 22): the recorder the events store themselves through
 * (in the change's transaction when the store has `transaction`), the webhook outbox rows written
 * with them (for the types `deliverWebhooks` selected), the queries behind the routes and the
 * CLI, and the retention purge. Without `store.audit` it stores nothing and lists nothing.
 * @param settings retentionDays: events older than this many days are deleted by `purge`
 */
export function createAudit (store: AuthStore, settings: { retentionDays: number }) {
  /** The types delivered by webhook: undefined when webhooks are off; 'all' for every type. */
  let webhookTypes: ReadonlySet<string> | 'all' | undefined

  const entries = (events: AuthEvent[]): AuditEntry[] => events.map(event => {
    const delivered = webhookTypes !== undefined && store.webhooks !== undefined && (webhookTypes === 'all' || webhookTypes.has(event.type))
    return { event, aggregateKey: aggregateKeyOf(event), webhook: delivered ? webhookPayload(event) : undefined }
  })

  const recorder: EventRecorder = {
    async within (work, describe) {
      if (store.transaction === undefined || store.audit === undefined) {
        const result = await work(store)
        const events = describe(result)
        if (events.length > 0) await store.audit?.record(entries(events))
        return { result, events }
      }
      return store.transaction(async tx => {
        const result = await work(tx)
        const events = describe(result)
        if (events.length > 0) await tx.audit!.record(entries(events))
        return { result, events }
      })
    },
    async record (events) {
      if (store.audit === undefined || events.length === 0) return
      if (store.transaction === undefined) return store.audit.record(entries(events))
      await store.transaction(tx => tx.audit!.record(entries(events)))
    }
  }

  return {
    recorder,
    /** Whether events are stored (the store has an audit log). */
    enabled: store.audit !== undefined,

    /**
     * From now on, events of these types (every type when omitted) are queued for the webhook
     * worker in their transaction; `null` turns it off. @throws TypeError for an unknown type
     */
    deliverWebhooks (types: readonly string[] | undefined | null): void {
      const unknown = (types ?? []).filter(type => !(AUTH_EVENT_TYPES as readonly string[]).includes(type))
      if (unknown.length > 0) throw new TypeError(`unknown event type(s): ${unknown.join(', ')} (known: ${AUTH_EVENT_TYPES.join(', ')})`)
      webhookTypes = types === null ? undefined : types === undefined || types.length === 0 ? 'all' : new Set(types)
    },

    /** A page of the log (see AuditQuery); empty without an audit store. */
    list: (query: AuditQuery): Promise<StoredEvent[]> => store.audit?.list(query) ?? Promise.resolve([]),

    /** The user's own last `limit` security events (SECURITY_EVENT_TYPES), newest first. */
    securityEvents: (userId: string, limit: number): Promise<StoredEvent[]> =>
      store.audit?.list({ userId, types: SECURITY_EVENT_TYPES, limit }) ?? Promise.resolve([]),

    /** Deletes events older than the retention (the hourly clean-up); the number deleted. */
    purge: async (now = Date.now()): Promise<number> => await store.audit?.purge(now - settings.retentionDays * DAY_MS) ?? 0
  }
}
export type Audit = ReturnType<typeof createAudit>
