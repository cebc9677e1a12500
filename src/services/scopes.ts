import type { Scope } from '../schemas/scopes.js'

const USER_SCOPES: Scope[] = ['me', 'items']
const ADMIN_SCOPES: Scope[] = ['me', 'items', 'admin']

/** The scopes a user may be granted. */
export const allowedScopes = (user: { is_admin: boolean }): Scope[] => user.is_admin ? ADMIN_SCOPES : USER_SCOPES

/** Space-separated scope string (RFC 6749 §3.3) to a list without duplicates; empty for none. */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter(s => s !== ''))]
}

/**
 * The scopes to grant: all allowed ones when none were asked for, else the request,
 * which must be a subset of `available` (undefined means invalid_scope).
 */
export function grantScopes (requested: string[], available: readonly string[]): string[] | undefined {
  if (requested.length === 0) return [...available]
  return requested.every(s => available.includes(s)) ? requested : undefined
}
