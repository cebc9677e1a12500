import type { FastifyRequest } from 'fastify'
import type { EventContext } from '../core/events.js'

/**
 * Who and where, as the audit log records it, for a request: the authenticated user (actor),
 * their session and client when there is a token, the client address (request.ip: trusted
 * proxies only, see TRUST_PROXY) and the user agent.
 */
export function requestContext (request: FastifyRequest): EventContext {
  const user = request.user as { id?: string, session_id?: string, client_id?: string } | undefined
  return {
    actor_id: user?.id ?? null,
    session_id: user?.session_id ?? null,
    client_id: user?.client_id ?? null,
    ip: request.ip,
    user_agent: request.headers['user-agent'] ?? null
  }
}
