import type { FastifyRequest } from 'fastify'
import { missingToken } from '../../src/http/errors.js'
import type { AuthenticatedUser } from './index.js'

/**
 * The user a route's authentication admitted: `request.user`, which is typed as possibly absent
 * (it is `null` on a route that no `authenticate` hook or `config.scopes` protects). FastAPI's
 * `Depends(get_current_user)`: on a protected route it always returns, frozen; on an unprotected
 * one it fails closed with the RFC 6750 401 (`WWW-Authenticate: Bearer`), never a 500.
 * @throws BearerChallengeError (401) when the request was not authenticated
 */
export function currentUser (request: FastifyRequest): AuthenticatedUser {
  const user = request.user
  if (user === null || user === undefined) throw missingToken()
  return user
}
