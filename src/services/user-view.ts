import type { UserPublic, UserRecord } from '../schemas/user.js'
import type { ScopeRegistry } from './scopes.js'

/**
 * The public shape of a stored user (never the hash): the one producer of what every route, the
 * CLI, hooks and events see. `metadata` is there only when the app declared `userMetadata`.
 */
export function createUserView (scopes: ScopeRegistry, options: { metadata: boolean }) {
  return (user: UserRecord): UserPublic => {
    const view: UserPublic = {
      id: user.id,
      username: user.username,
      email: user.email,
      email_verified: user.email_verified,
      full_name: user.full_name,
      disabled: user.disabled,
      is_admin: user.is_admin,
      scopes: scopes.allowedFor(user),
      created_at: user.created_at,
      mfa_enabled: user.mfa_enabled === true
    }
    if (options.metadata) view.metadata = user.metadata ?? {}
    return view
  }
}
export type UserView = ReturnType<typeof createUserView>
