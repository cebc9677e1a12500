import { newId } from '../identifiers.js'
import type { AuthStore } from '../stores/auth-store.js'

/** The event types (CONTRACT.md "Events, hooks and the audit log"); more come with the flows that emit them. */
export const AUTH_EVENT_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.disabled', 'user.enabled',
  'login.succeeded', 'login.failed', 'mfa.challenged', 'mfa.failed', 'mfa.enabled', 'mfa.disabled', 'token.refreshed', 'refresh.reused', 'session.ended',
  'password.changed', 'password.reset', 'email.verification_sent', 'email.verified',
  'account.locked', 'account.unlocked', 'key.rotated',
  // Social login (issue 23): an identity at a provider linked to, or removed from, a user.
  'identity.linked', 'identity.unlinked'
] as const
export type AuthEventType = typeof AUTH_EVENT_TYPES[number]

/**
 * Who and where: the request's context, passed by the caller that knows it (a route, through the
 * service call). Not carried by AsyncLocalStorage: on Node 20 its promise hook cost ~10 µs on every
 * request of the process once enabled (BENCHMARKS.md, the equal-output floor).
 */
export interface EventContext {
  actor_id?: string | null
  session_id?: string | null
  client_id?: string | null
  ip?: string | null
  user_agent?: string | null
}

/**
 * One event, as listeners (and later the audit log) receive it. `data` never holds a password,
 * token, code or secret.
 */
export interface AuthEvent {
  id: string
  type: AuthEventType
  /** ISO 8601 */
  at: string
  user_id: string | null
  actor_id: string | null
  session_id: string | null
  client_id: string | null
  ip: string | null
  user_agent: string | null
  data: Record<string, unknown>
}

export type AuthEventListener = (event: AuthEvent) => unknown
/** What a service says happened; the rest comes from the request's context. */
export type EventInput = { type: AuthEventType, user_id?: string | null, data?: Record<string, unknown> } & EventContext

/** The part of a pino logger the events use. */
interface EventLog { error (object: object, message: string): void }

/**
 * Where events are stored (the audit log, src/core/audit.ts): with the change, in its
 * transaction, or in a write of their own right after it.
 */
export interface EventRecorder {
  /**
   * Runs `work` on a store bound to one transaction and stores the events `describe` makes of its
   * result in that transaction; resolves `work`'s result and the events once committed.
   */
  within<T> (work: (store: AuthStore) => Promise<T>, describe: (result: T) => AuthEvent[]): Promise<{ result: T, events: AuthEvent[] }>
  /** Stores events in a transaction of their own. */
  record (events: AuthEvent[]): Promise<void>
}

/** What `within`'s describe returns: the events of the change, or none. */
type Described = EventInput | ReadonlyArray<EventInput | undefined> | undefined

/**
 * The events of one auth core: services `emit` after their change committed; listeners
 * (`on(type | '*', listener)`) run later, on their own, so a slow or throwing listener never
 * fails or delays the request (errors are logged).
 */
export function createAuthEvents (log: EventLog, store?: AuthStore) {
  const listeners = new Map<AuthEventType | '*', Set<AuthEventListener>>()
  let recorder: EventRecorder | undefined
  /** Events being stored in their own write (emit): `settled()` waits for them. */
  const pending = new Set<Promise<void>>()

  const build = (input: EventInput): AuthEvent => ({
    id: newId(),
    type: input.type,
    at: new Date().toISOString(),
    user_id: input.user_id ?? null,
    actor_id: input.actor_id ?? null,
    session_id: input.session_id ?? null,
    client_id: input.client_id ?? null,
    // At most 64 characters (an IPv6 address with a zone fits): an 8 KB X-Forwarded-For is not kept per event.
    ip: input.ip == null ? null : [...input.ip.slice(0, 128)].slice(0, 64).join(''),
    // By code points, at most 512 (as sessions store it): a header of kilobytes is not kept per event.
    user_agent: input.user_agent == null ? null : [...input.user_agent.slice(0, 1024)].slice(0, 512).join(''),
    data: input.data ?? {}
  })
  const inputsOf = (described: Described): EventInput[] =>
    described === undefined ? [] : Array.isArray(described) ? described.filter((e): e is EventInput => e !== undefined) : [described as EventInput]

  function deliver (event: AuthEvent) {
    for (const key of [event.type, '*'] as const) {
      for (const listener of listeners.get(key) ?? []) {
        // A microtask of its own per listener, after the current one: nothing a listener does is awaited.
        setImmediate(() => {
          Promise.resolve().then(() => listener(event)).catch((err: unknown) => log.error({ err, event: event.type, eventId: event.id }, 'auth event listener failed'))
        })
      }
    }
  }

  return {
    /**
     * Subscribes to one type of event, or every type with '*'. Resolves nothing; returns the
     * function that unsubscribes. @throws TypeError for an unknown type (a typo would never fire)
     */
    on (type: AuthEventType | '*', listener: AuthEventListener): () => void {
      if (type !== '*' && !(AUTH_EVENT_TYPES as readonly string[]).includes(type)) throw new TypeError(`unknown auth event type: ${String(type)}`)
      let set = listeners.get(type)
      if (set === undefined) listeners.set(type, set = new Set())
      set.add(listener)
      return () => { set.delete(listener) }
    },

    /** Stores events from now on (the audit log); set once by the core. */
    useRecorder (given: EventRecorder): void {
      recorder = given
    },

    /**
     * Runs a change and stores the events it makes in the same transaction (when the store has
     * transactions and an audit log; else the events are stored in a write of their own right
     * after it). The listeners get them once committed. `work` must use only the store it is
     * given. Resolves `work`'s result; rejects with its error (nothing stored).
     */
    async within<T> (work: (store: AuthStore) => Promise<T>, describe: (result: T) => Described): Promise<T> {
      let result: T
      let events: AuthEvent[]
      if (recorder !== undefined) {
        ({ result, events } = await recorder.within(work, value => inputsOf(describe(value)).map(build)))
      } else {
        if (store === undefined) throw new Error('auth events: within() needs the store')
        result = await work(store)
        events = inputsOf(describe(result)).map(build)
      }
      if (listeners.size > 0) for (const event of events) deliver(event)
      return result
    },

    /**
     * Stores events that go with no write of the store's (a failed login, a lock in Redis) in
     * a transaction of its own, and waits for it; then hands it to the listeners. A failed write
     * is logged, never thrown: the answer is the same.
     */
    async record (input: EventInput | EventInput[]): Promise<AuthEvent[]> {
      const events = (Array.isArray(input) ? input : [input]).map(build)
      if (recorder !== undefined) {
        try {
          // In chunks: an import's thousands of events in bounded statements and transactions.
          for (let i = 0; i < events.length; i += 500) await recorder.record(events.slice(i, i + 500))
        } catch (err) {
          log.error({ err, events: events.length, event: events[0]?.type }, 'auth event not stored')
        }
      }
      if (listeners.size > 0) for (const event of events) deliver(event)
      return events
    },

    /**
     * Records that something happened (after its transaction committed) and hands it to the
     * listeners: stored in a write of its own right after, not awaited (see `settled`).
     */
    emit (input: EventInput): AuthEvent {
      const event = build(input)
      if (recorder === undefined) {
        if (listeners.size > 0) deliver(event)
        return event
      }
      const stored: Promise<void> = recorder.record([event])
        .catch((err: unknown) => log.error({ err, event: event.type, eventId: event.id }, 'auth event not stored'))
        .finally(() => {
          pending.delete(stored)
          if (listeners.size > 0) deliver(event)
        })
      pending.add(stored)
      return event
    },

    /** Resolves once every event emitted so far is stored (the core's stop, tests). */
    async settled (): Promise<void> {
      while (pending.size > 0) await Promise.all(pending)
    }
  }
}
export type AuthEvents = ReturnType<typeof createAuthEvents>
