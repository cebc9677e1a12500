import { LoginLockedError } from '../errors.js'
import type { LoginFailureStore } from '../stores/auth-store.js'
import type { AuthEvents } from '../core/events.js'
import type { ServiceLog } from './log.js'

/**
 * The key failures are counted under: the account (so its username and e-mail share one count),
 * or for a login that names no account the normalised login itself — counted exactly alike.
 */
export const throttleKey = (user: { id: string } | undefined, normalisedLogin: string) =>
  user === undefined ? `login:${normalisedLogin}` : `user:${user.id}`

/**
 * Brute-force protection of password logins (ASVS 6.1.1, 6.3.1; CONTRACT.md "Brute force"):
 * failed logins are counted per account (see throttleKey) from any address, in a window that
 * starts at the first failure. At `limit` failures the account's password logins are refused (429) until the
 * window ends; a successful login clears the count. A lock lasts at most one window, so an
 * attacker keeps a user out only by failing `limit` times every window, which the per-address
 * limit slows and the logs show; an admin unlocks early.
 */
export function createLoginThrottle (deps: { store: LoginFailureStore, limit: number, windowSeconds: number, log: ServiceLog, events?: AuthEvents }) {
  const { store, limit, log, events } = deps
  /** The account a key counts for, if it names one (`user:<id>`). */
  const userOf = (key: string) => key.startsWith('user:') ? key.slice(5) : null
  const windowMs = deps.windowSeconds * 1000
  const retryAfter = (windowEnds: number, now: number) => Math.max(1, Math.ceil((windowEnds - now) / 1000))

  return {
    /** @throws LoginLockedError when the account is locked; call before checking the password */
    async check (key: string): Promise<void> {
      if (limit === 0) return
      const now = Date.now()
      const { failures, windowEnds } = await store.get(key, now, windowMs)
      if (failures >= limit) throw new LoginLockedError(retryAfter(windowEnds, now))
    },

    /** Counts a failed password for this login; logs the lock when this failure starts one. */
    async failed (key: string): Promise<void> {
      if (limit === 0) return
      const now = Date.now()
      const { failures, windowEnds } = await store.add(key, now, windowMs)
      if (failures !== limit) return
      log.warn({ event: 'login-lock', key: key.slice(0, 80), failures, lockedForSeconds: retryAfter(windowEnds, now) }, 'account locked after failed logins')
      await events?.record({ type: 'account.locked', user_id: userOf(key), data: { failures, locked_for_seconds: retryAfter(windowEnds, now) } })
    },

    /** A successful login: the earlier failures no longer count. */
    async succeeded (key: string): Promise<void> {
      if (limit === 0) return
      await store.clear(key)
    },

    /** Ends a lock early (an admin); true if there was anything to clear. */
    async unlock (key: string): Promise<boolean> {
      const cleared = await store.clear(key)
      log.info({ event: 'login-unlock', key: key.slice(0, 80), cleared }, 'login failures cleared')
      await events?.record({ type: 'account.unlocked', user_id: userOf(key), data: { cleared } })
      return cleared
    },

    /** Deletes the counts of windows that have ended. */
    purge: () => store.purge(Date.now() - windowMs)
  }
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>
