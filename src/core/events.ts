import { newId } from '../identifiers.js'

/** The event types (CONTRACT.md "Events, hooks and the audit log"); more come with the flows that emit them. */
export const AUTH_EVENT_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.disabled', 'user.enabled',
  'login.succeeded', 'login.failed', 'mfa.challenged', 'mfa.failed', 'mfa.enabled', 'mfa.disabled', 'token.refreshed', 'refresh.reused', 'session.ended',
  'password.changed', 'password.reset', 'email.verification_sent', 'email.verified',
  'account.locked', 'account.unlocked', 'key.rotated'
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
 * The events of one auth core: services `emit` after their change committed; listeners
 * (`on(type | '*', listener)`) run later, on their own, so a slow or throwing listener never
 * fails or delays the request (errors are logged).
 */
export function createAuthEvents (log: EventLog) {
  const listeners = new Map<AuthEventType | '*', Set<AuthEventListener>>()

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

    /** Records that something happened (after its transaction committed) and hands it to the listeners. */
    emit (input: EventInput): AuthEvent {
      const event: AuthEvent = {
        id: newId(),
        type: input.type,
        at: new Date().toISOString(),
        user_id: input.user_id ?? null,
        actor_id: input.actor_id ?? null,
        session_id: input.session_id ?? null,
        client_id: input.client_id ?? null,
        ip: input.ip ?? null,
        user_agent: input.user_agent ?? null,
        data: input.data ?? {}
      }
      if (listeners.size > 0) deliver(event)
      return event
    }
  }
}
export type AuthEvents = ReturnType<typeof createAuthEvents>
