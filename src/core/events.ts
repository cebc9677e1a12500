import { AsyncLocalStorage } from 'node:async_hooks'
import { newId } from '../identifiers.js'

/** The event types (CONTRACT.md "Events, hooks and the audit log"); more come with the flows that emit them. */
export const AUTH_EVENT_TYPES = [
  'user.created', 'user.updated', 'user.deleted', 'user.disabled', 'user.enabled',
  'login.succeeded', 'login.failed', 'token.refreshed', 'refresh.reused', 'session.ended',
  'password.changed', 'password.reset', 'email.verification_sent', 'email.verified',
  'account.locked', 'account.unlocked', 'key.rotated'
] as const
export type AuthEventType = typeof AUTH_EVENT_TYPES[number]

/** Who and where: the request's context, when an event happens during one. */
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
 * fails or delays the request (errors are logged). `withContext` runs a request's work with its
 * context (actor, session, client, address, user agent), which every event it emits carries.
 */
export function createAuthEvents (log: EventLog) {
  const listeners = new Map<AuthEventType | '*', Set<AuthEventListener>>()
  const context = new AsyncLocalStorage<EventContext>()

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
      const around = context.getStore() ?? {}
      const event: AuthEvent = {
        id: newId(),
        type: input.type,
        at: new Date().toISOString(),
        user_id: input.user_id ?? null,
        actor_id: input.actor_id ?? around.actor_id ?? null,
        session_id: input.session_id ?? around.session_id ?? null,
        client_id: input.client_id ?? around.client_id ?? null,
        ip: input.ip ?? around.ip ?? null,
        user_agent: input.user_agent ?? around.user_agent ?? null,
        data: input.data ?? {}
      }
      if (listeners.size > 0) deliver(event)
      return event
    },

    /** Runs `work` with `ctx` as the context of every event emitted within it (AsyncLocalStorage). */
    withContext: <T>(ctx: EventContext, work: () => T): T => context.run(ctx, work),

    /** The context of the work under way (a request), or undefined. */
    context: (): EventContext | undefined => context.getStore()
  }
}
export type AuthEvents = ReturnType<typeof createAuthEvents>
