import { randomBytes } from 'node:crypto'
import { hash, verify, type Options } from '@node-rs/argon2'
import { dictionary } from '@zxcvbn-ts/language-common'
import pLimit from 'p-limit'
import { OverloadedError } from '../errors.js'

/**
 * argon2id with OWASP's parameters (m=19 MiB, t=2, p=1), passed explicitly because the
 * library's own defaults have been weaker. `2` is Algorithm.Argon2id (a const enum that
 * isolated modules cannot import). Hashing runs on libuv's thread pool, never the event loop.
 */
export const ARGON2_OPTIONS: Options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }
export const PASSWORD_MAX_LENGTH = 1024

/** NFKC, as NIST SP 800-63B advises, so the same password typed on two keyboards matches. No case change, no trimming. */
const normalize = (password: string) => password.normalize('NFKC')

export function hashPassword (password: string): Promise<string> {
  return hash(normalize(password), ARGON2_OPTIONS)
}

/**
 * Hashes and verifies through one queue of at most `concurrency` argon2 computations.
 * argon2id is CPU-bound and takes 19 MiB while it runs: more at once than there are cores
 * adds memory and latency, not throughput, and would fill libuv's thread pool, which DNS
 * lookups and file reads share. Hence defaultHashConcurrency (src/schemas/auth-options.ts; BENCHMARKS.md).
 *
 * `verify(undefined, …)` checks the password against a dummy hash made at start, so an
 * unknown user costs as much as a known one and response time does not tell them apart.
 */
export async function createPasswordHasher (options: { concurrency: number, queueLimit: number }) {
  const limit = pLimit(options.concurrency)
  const inFlight = new Set<Promise<unknown>>()
  const dummyHash = await hashPassword(randomBytes(16).toString('base64url'))

  /** Runs one argon2 computation through the queue. @throws OverloadedError when `queueLimit` already wait */
  function queued<T> (work: () => Promise<T>): Promise<T> {
    if (limit.activeCount >= options.concurrency && limit.pendingCount >= options.queueLimit) throw new OverloadedError()
    const task = limit(work)
    inFlight.add(task)
    task.finally(() => inFlight.delete(task)).catch(() => {})
    return task
  }

  return {
    /** argon2 computations running and waiting */
    load: () => ({ active: limit.activeCount, pending: limit.pendingCount }),
    /** Resolves when every queued computation has finished (shutdown). */
    drain: async () => { await Promise.allSettled([...inFlight]) },
    /** @throws OverloadedError */
    hash: async (password: string) => queued(() => hashPassword(password)),
    /** True if the password matches the stored hash; false for a malformed hash. @throws OverloadedError */
    async verify (passwordHash: string | undefined, password: string): Promise<boolean> {
      const task = queued(() => verify(passwordHash ?? dummyHash, normalize(password)))
      try {
        return await task && passwordHash !== undefined
      } catch {
        return false // a malformed stored hash is a failed login, never a 500
      }
    }
  }
}
export type PasswordHasher = Awaited<ReturnType<typeof createPasswordHasher>>

// Common passwords (zxcvbn's list, ~18k of them fit the length policy): ASVS 6.2.4 asks for at least 3000.
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(dictionary['passwords-common'].filter(p => p.length >= 8))

/** Returns why a new password is refused, or undefined. Any composition is allowed (ASVS 6.2.5). */
export function passwordPolicyViolation (password: string, minLength: number, username?: string): string | undefined {
  const length = [...normalize(password)].length
  if (length < minLength) return `password must be at least ${minLength} characters`
  if (length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return 'password is too common: choose another'
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return 'password must differ from the username'
  return undefined
}
