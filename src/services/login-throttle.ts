import { LoginLockedError, OverloadedError } from '../errors.js'
import type { LoginFailureStore } from '../stores/auth-store.js'
import type { AuthEvents } from '../core/events.js'
import type { ServiceLog } from './log.js'

/**
 * The key failures are counted under: the account (so its username and e-mail share one count),
 * or for a login that names no account the normalised login itself — counted exactly alike.
 */
export const throttleKey = (user: { id: string } | undefined, normalisedLogin: string) =>
  user === undefined ? `login:${normalisedLogin}` : `user:${user.id}`

/** A check slot held by a process that died is given back after this long. */
const IN_FLIGHT_MS = 60_000

/**
 * Brute-force protection of password logins (ASVS 6.1.1, 6.3.1; CONTRACT.md "Brute force"):
 * failed logins are counted per account (see throttleKey) from any address, in a window that
 * starts at the first failure. At `limit` failures the account's password logins are refused (429)
 * until the window ends; a successful login clears the count. Checks in flight count too (see
 * `attempt`), so a burst sent at once cannot check more than the limit. A lock lasts at most one window, so an
 * attacker keeps a user out only by failing `limit` times every window, which the per-address
 * limit slows and the logs show; an admin unlocks early.
 */
export function createLoginThrottle (deps: { store: LoginFailureStore, limit: number, windowSeconds: number, log: ServiceLog, events?: AuthEvents }) {
  const { store, limit, log, events } = deps
  /** The account a key counts for, if it names one (`user:<id>`). */
  const userOf = (key: string) => key.startsWith('user:') ? key.slice(5) : null
  const windowMs = deps.windowSeconds * 1000
  const retryAfter = (windowEnds: number, now: number) => Math.max(1, Math.ceil((windowEnds - now) / 1000))
  /** The lock has just begun: logged and stored as `account.locked`. */
  async function locked (key: string, failures: number, windowEnds: number, now: number) {
    log.warn({ event: 'login-lock', key: key.slice(0, 80), failures, lockedForSeconds: retryAfter(windowEnds, now) }, 'account locked after failed logins')
    await events?.record({ type: 'account.locked', user_id: userOf(key), data: { failures, locked_for_seconds: retryAfter(windowEnds, now) } })
  }

  /** Counts a failed password or code for this login; logs the lock when this failure starts one. */
  async function failed (key: string): Promise<void> {
    if (limit === 0) return
    const now = Date.now()
    const { failures, windowEnds } = await store.add(key, now, windowMs)
    if (failures === limit) await locked(key, failures, windowEnds, now)
  }

  return {
    /**
     * Takes one of the account's check slots before a slow check (a password, a code): confirmed
     * failures plus checks in flight never exceed the limit, so of N attempts sent at once only
     * the lock's worth are checked (found from outside: a burst of 1000 got 176 codes checked, and
     * 300 of 300 wrong passwords, when the count was read first and written after). Call
     * `failed()` for a wrong answer (it counts, and logs the lock when it reached the limit), then
     * `release()` in every case. A store without `release` keeps the older order: read, check, count.
     * @throws LoginLockedError (429) when the account is locked; OverloadedError (503, retry in a
     * second) when the lock's worth of checks is already in flight
     */
    async attempt (key: string): Promise<{ failed: () => Promise<void>, release: () => Promise<void> }> {
      const none = async () => {}
      if (limit === 0) return { failed: none, release: none }
      const now = Date.now()
      const release = store.release
      if (release === undefined) {
        const { failures, windowEnds } = await store.get(key, now, windowMs)
        if (failures >= limit) throw new LoginLockedError(retryAfter(windowEnds, now))
        return { failed: () => failed(key), release: none }
      }
      const slot = `${key}#in-flight`
      const inFlight = await store.add(slot, now, IN_FLIGHT_MS)
      let released = false
      const free = async () => {
        if (released) return
        released = true
        await release.call(store, slot)
      }
      try {
        const { failures, windowEnds } = await store.get(key, now, windowMs)
        if (failures >= limit) throw new LoginLockedError(retryAfter(windowEnds, now))
        if (failures + inFlight.failures > limit) throw new OverloadedError(1)
      } catch (error) {
        await free()
        throw error
      }
      return { failed: () => failed(key), release: free }
    },

    failed,

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
