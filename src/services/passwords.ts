import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { hash, type Options } from '@node-rs/argon2'
import { dictionary } from '@zxcvbn-ts/language-common'
import pLimit from 'p-limit'
import { OverloadedError } from '../errors.js'
import { needsRehash, verifyAnyFormat } from './hash-formats.js'

/**
 * argon2id with OWASP's parameters (m=19 MiB, t=2, p=1), passed explicitly because the
 * library's own defaults have been weaker. `2` is Algorithm.Argon2id (a const enum that
 * isolated modules cannot import). Hashing runs on libuv's thread pool, never the event loop.
 */
export const ARGON2_OPTIONS: Options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 }
export const PASSWORD_MAX_LENGTH = 1024

/** How our hashes at these parameters begin (the PHC string up to the salt): others are foreign or older. */
const NATIVE_HASH_PREFIX = (options: Omit<Options, 'algorithm'> = {}) => {
  const { memoryCost, timeCost, parallelism } = { ...ARGON2_OPTIONS, ...options }
  return `$argon2id$v=19$m=${memoryCost},t=${timeCost},p=${parallelism}$`
}

/** NFKC, as NIST SP 800-63B advises, so the same password typed on two keyboards matches. No case change, no trimming. */
const normalize = (password: string) => password.normalize('NFKC')

export function hashPassword (password: string, options: Options = ARGON2_OPTIONS): Promise<string> {
  return hash(normalize(password), { ...options, algorithm: 2 })
}

/** A verification: whether the password matched, and whether the stored hash should be replaced. */
export interface Verification { ok: boolean, rehash: boolean }

/**
 * Hashes and verifies through one queue of at most `concurrency` computations; past
 * `queueLimit` waiting, OverloadedError at once. argon2id is CPU-bound and takes 19 MiB while it
 * runs: more at once than there are cores adds memory and latency, not throughput, and would
 * fill libuv's thread pool, which DNS lookups and file reads share. Hence defaultHashConcurrency
 * (src/schemas/auth-options.ts; BENCHMARKS.md).
 *
 * Stored hashes may be ours (argon2id at `argon2`, or older parameters) or imported
 * (hash-formats.ts: bcrypt, pbkdf2-sha256, argon2 of any parameters); `rehash` says a
 * successful login should replace one with ours. Timing tells nothing (ASVS 6.3.8):
 * - `verify(undefined, …)` checks the password against a dummy hash of ours, so an unknown user
 *   costs what a known one does;
 * - `calibrate(samples)` measures one verification of each kind of stored foreign hash (bcrypt
 *   cost 12 takes ~25 times an argon2id check), and from then on every verification lasts at
 *   least that long, so the users not migrated yet cannot be told from the others. A foreign
 *   hash met later (users imported while the server runs) raises that floor on its first check.
 */
export async function createPasswordHasher (options: { concurrency: number, queueLimit: number, argon2?: Omit<Options, 'algorithm'> }) {
  const argon2: Options = { ...ARGON2_OPTIONS, ...options.argon2, algorithm: 2 }
  const limit = pLimit(options.concurrency)
  const inFlight = new Set<Promise<unknown>>()
  const dummyHash = await hashPassword(randomBytes(16).toString('base64url'), argon2)
  let floorMs = 0

  /** Runs one computation through the queue. @throws OverloadedError when `queueLimit` already wait */
  function queued<T> (work: () => Promise<T>): Promise<T> {
    if (limit.activeCount >= options.concurrency && limit.pendingCount >= options.queueLimit) throw new OverloadedError()
    const task = limit(work)
    inFlight.add(task)
    task.finally(() => inFlight.delete(task)).catch(() => {})
    return task
  }

  const nativePrefix = NATIVE_HASH_PREFIX(argon2)

  /**
   * One verification in the queue, lasting at least floorMs (the wait is a timer, not work). A
   * foreign hash that took longer raises the floor (an import made while the server runs).
   */
  async function check (storedHash: string, password: string): Promise<boolean> {
    const started = performance.now()
    const ok = await queued(() => verifyAnyFormat(storedHash, password))
    const took = performance.now() - started
    if (!storedHash.startsWith(nativePrefix)) floorMs = Math.max(floorMs, took)
    if (floorMs - took > 1) await sleep(floorMs - took)
    return ok
  }

  return {
    /** computations running and waiting, and the floor of every verification (ms) */
    load: () => ({ active: limit.activeCount, pending: limit.pendingCount, floorMs }),
    /** How our hashes at the current parameters begin; any other stored hash is foreign. */
    nativePrefix,
    /** Ends the floor: for when no foreign hash is stored any more, so timing has nothing left to tell apart. */
    endFloor () { floorMs = 0 },
    /** Resolves when every queued computation has finished (shutdown). */
    drain: async () => { await Promise.allSettled([...inFlight]) },
    /** A new hash: argon2id at the configured parameters, of the NFKC form. @throws OverloadedError */
    hash: async (password: string) => queued(() => hashPassword(password, argon2)),
    /**
     * Checks a password against a stored hash of any supported format, or against the dummy hash
     * when there is no user; a malformed hash is a failed check, never a 500. @throws OverloadedError
     */
    async verify (storedHash: string | undefined, password: string): Promise<Verification> {
      const ok = await check(storedHash ?? dummyHash, password) && storedHash !== undefined
      return { ok, rehash: ok && needsRehash(storedHash, argon2) }
    },
    /**
     * Measures a failed verification of each sample hash (one per stored foreign kind, see
     * UserStore.foreignHashSamples) and makes the slowest the floor of every verification.
     */
    async calibrate (samples: readonly string[]): Promise<number> {
      for (const sample of samples) {
        const started = performance.now()
        await queued(() => verifyAnyFormat(sample, randomBytes(12).toString('base64url')))
        floorMs = Math.max(floorMs, performance.now() - started)
      }
      return floorMs
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
