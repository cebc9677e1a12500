import type { FastifyRequest } from 'fastify'
import { bearerToken } from './bearer.js'

/**
 * Where `authenticate` looks for an access token. Sources are tried in order; the first that
 * finds credentials decides (a malformed one is not passed over for the next). The bearer header
 * (RFC 6750 §2.1) is the first; a cookie source (the browser-apps issue) goes after it.
 */
export interface TokenSource {
  /** names the source in logs, e.g. 'bearer-header' */
  name: string
  /**
   * The token this request carries here: `undefined` when this source has none, `null` when it
   * has malformed credentials (401 invalid_token), else the token.
   */
  read (request: FastifyRequest): string | null | undefined
}

/** `Authorization: Bearer <token>`, by RFC 6750 §2.1's grammar (src/http/bearer.ts). */
export const bearerHeader: TokenSource = {
  name: 'bearer-header',
  read: request => bearerToken(request.headers.authorization)
}

/** The first source with credentials: its name and what it read; undefined when none has any. */
export function findToken (sources: readonly TokenSource[], request: FastifyRequest): { source: TokenSource, token: string | null } | undefined {
  for (const source of sources) {
    const token = source.read(request)
    if (token !== undefined) return { source, token }
  }
  return undefined
}
