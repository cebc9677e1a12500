/*
 * Scopes (RFC 6749 §3.3): the one home of their names, descriptions and who may have them.
 * The built-in ones below, plus any an app declares through the auth plugin's `scopes` option.
 */

/** A scope as an app declares it: what Swagger UI's Authorize dialog shows, and who may be granted it. */
export interface ScopeDefinition {
  description: string
  /** only admins may be granted it (default false: every user) */
  adminOnly?: boolean
}

export const BUILTIN_SCOPES: Readonly<Record<string, ScopeDefinition>> = {
  me: { description: 'Read and update your own account and sessions' },
  items: { description: 'Manage your own items' },
  admin: { description: 'Manage all users (admins only)', adminOnly: true }
}

/** Space-separated scope string (RFC 6749 §3.3) to a list without duplicates; empty for none. */
export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter(s => s !== ''))]
}

/**
 * The scopes to grant: all available ones when none were asked for, else the request,
 * which must be a subset of `available` (undefined means invalid_scope).
 */
export function grantScopes (requested: string[], available: readonly string[]): string[] | undefined {
  if (requested.length === 0) return [...available]
  return requested.every(s => available.includes(s)) ? requested : undefined
}

/**
 * The scopes of one auth plugin instance: the built-in ones and the app's own, by name.
 * `allowedFor` is what a user may be granted; its result is shared, never mutate it.
 */
export function createScopeRegistry (declared: Record<string, ScopeDefinition> = {}) {
  const definitions: Record<string, ScopeDefinition> = { ...BUILTIN_SCOPES, ...declared }
  // Frozen: shared by every user view and request.user (sessions.ts freezes those).
  const names = Object.freeze(Object.keys(definitions)) as string[]
  const forUsers = Object.freeze(names.filter(name => definitions[name]?.adminOnly !== true)) as string[]
  return {
    definitions,
    names,
    /** the scopes a user may be granted: every scope for admins, the others for everyone */
    allowedFor: (user: { is_admin: boolean }): string[] => user.is_admin ? names : forUsers
  }
}
export type ScopeRegistry = ReturnType<typeof createScopeRegistry>
