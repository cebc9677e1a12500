import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { hash, type Options } from '@node-rs/argon2'
import { dictionary } from '@zxcvbn-ts/language-common'
import pLimit from 'p-limit'
import { OverloadedError } from '../errors.js'
import { hashProblem, needsRehash, verifyAnyFormat } from './hash-formats.js'

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

/** How long a login may expect to wait for its computation before it is refused (PASSWORD_HASH_MAX_WAIT_SECONDS). */
export const DEFAULT_MAX_WAIT_MS = 5000
/**
 * The timing floor never exceeds this many native verifications (moving average): the bound on
 * an imported hash's work (hash-formats.ts: bcrypt cost 12, 27 native verifications measured
 * here) with room for the host's noise.
 */
export const FLOOR_MAX_NATIVE_MULTIPLE = 40
/** Weight of the newest measurement in the moving averages of compute time. */
const SMOOTHING = 0.2
/** The longest Retry-After a refusal names, whatever the expected wait. */
const MAX_RETRY_AFTER_SECONDS = 120

/**
 * Retry-After for a refused computation: the expected wait in whole seconds (at least 1), plus
 * a random 0 to max(3, that) seconds, so the refused clients of one burst come back spread out
 * rather than together in the same second.
 */
export function retryAfterSeconds (expectedWaitMs: number, random: () => number = Math.random): number {
  const base = Math.max(1, Math.ceil(expectedWaitMs / 1000))
  const spread = Math.max(3, base)
  return Math.min(MAX_RETRY_AFTER_SECONDS, base + Math.floor(random() * (spread + 1)))
}

/**
 * Load shedding by expected wait (issue 18): a computation is refused only when the ones ahead
 * of it (running and waiting) × the moving average of measured compute time ÷ `concurrency`
 * exceed `maxWaitMs`, or when `queueLimit` already wait (a cap on memory, far above what the
 * wait allows for ordinary hashes). A burst the machine serves within the bound is served in
 * full: 200 logins at ~10 ms each on two cores expect at most 1 s.
 */
export function createLoadShedder (options: { concurrency: number, maxWaitMs: number, queueLimit: number, initialComputeMs: number, random?: () => number }) {
  let averageMs = options.initialComputeMs
  const expectedWaitMs = (active: number, pending: number) =>
    active + pending < options.concurrency ? 0 : (active + pending) * averageMs / options.concurrency
  return {
    /** Adds one computation's measured time (queue wait excluded) to the moving average. */
    record (ms: number) { averageMs += (ms - averageMs) * SMOOTHING },
    averageMs: () => averageMs,
    /** How long a computation queued behind `active` running and `pending` waiting would wait (ms). */
    expectedWaitMs,
    /** undefined when a computation may queue behind these; else the Retry-After (seconds) of its refusal. */
    refusal (active: number, pending: number): number | undefined {
      const waitMs = expectedWaitMs(active, pending)
      const full = active >= options.concurrency && pending >= options.queueLimit
      if (!full && waitMs <= options.maxWaitMs) return undefined
      return retryAfterSeconds(waitMs, options.random)
    }
  }
}

/** A stored hash's kind: up to its salt ($2b$12$, $pbkdf2-sha256$29000$, $argon2id$v=19$m=…,t=…,p=…$), as UserStore.foreignHashSamples groups them. */
const kindOf = (hash: string) => hash.split('$').slice(0, hash.startsWith('$argon2') ? 4 : 3).join('$')

/**
 * Hashes and verifies through one queue of at most `concurrency` computations. argon2id is
 * CPU-bound and takes 19 MiB while it runs: more at once than there are cores adds memory and
 * latency, not throughput, and would fill libuv's thread pool, which DNS lookups and file reads
 * share. Hence defaultHashConcurrency (src/schemas/auth-options.ts; BENCHMARKS.md). A computation
 * whose expected wait exceeds `maxWaitMs`, or past `queueLimit` waiting, is refused at once with
 * OverloadedError (createLoadShedder).
 *
 * Stored hashes may be ours (argon2id at `argon2`, or older parameters) or imported
 * (hash-formats.ts: bcrypt, pbkdf2-sha256, argon2 of any parameters within HASH_WORK_LIMITS);
 * `rehash` says a successful login should replace one with ours. A stored hash with a `hashProblem`
 * (unknown, malformed, or beyond the bound: written before it, or by hand) is never computed: the
 * dummy hash is verified instead and the check fails. Timing tells nothing (ASVS 6.3.8):
 * - `verify(undefined, …)` checks the password against a dummy hash of ours, so an unknown user
 *   costs what a known one does;
 * - `calibrate(samples)` measures one verification of each kind of stored foreign hash (bcrypt
 *   cost 12 takes ~27 times an argon2id check), and from then on every verification lasts at
 *   least as long as the slowest kind computes: the floor. A foreign kind met later (users
 *   imported while the server runs) joins on its first check. The floor is each kind's moving
 *   average of compute time, measured inside the queued work (never the wait before it), and at
 *   most FLOOR_MAX_NATIVE_MULTIPLE native verifications; the padding is a timer, not work, and
 *   does not hold a place in the queue.
 */
export async function createPasswordHasher (options: { concurrency: number, queueLimit: number, maxWaitMs?: number, argon2?: Omit<Options, 'algorithm'> }) {
  const argon2: Options = { ...ARGON2_OPTIONS, ...options.argon2, algorithm: 2 }
  const limit = pLimit(options.concurrency)
  const inFlight = new Set<Promise<unknown>>()
  const started = performance.now()
  const dummyHash = await hashPassword(randomBytes(16).toString('base64url'), argon2)
  const nativePrefix = NATIVE_HASH_PREFIX(argon2)
  /** Moving average of a native verification's compute time (ms); a hash of ours costs the same. */
  let nativeMs = performance.now() - started
  const shedder = createLoadShedder({ concurrency: options.concurrency, maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS, queueLimit: options.queueLimit, initialComputeMs: nativeMs })
  /** Moving average of each foreign kind's compute time (ms). */
  const foreignMs = new Map<string, number>()
  let floorMs = 0

  /** Runs one computation through the queue and measures it (from its start, not its queueing). @throws OverloadedError */
  function queued<T> (work: () => Promise<T>, native = true): Promise<{ value: T, ms: number }> {
    const retryAfter = shedder.refusal(limit.activeCount, limit.pendingCount)
    if (retryAfter !== undefined) return Promise.reject(new OverloadedError(retryAfter))
    const task = limit(async () => {
      const begun = performance.now()
      const value = await work()
      const ms = performance.now() - begun
      // Only our own hashes feed the expected wait: one slow imported hash would otherwise make the
      // shedder refuse bursts of ordinary logins (found from outside: 133 of 200 after one bcrypt-12 check).
      if (native) shedder.record(ms)
      return { value, ms }
    })
    inFlight.add(task)
    task.finally(() => inFlight.delete(task)).catch(() => {})
    return task
  }

  /** Adds a verification's compute time to its kind's average, and sets the floor from them. */
  function measured (hash: string, ms: number) {
    const average = (previous: number | undefined) => previous === undefined ? ms : previous + (ms - previous) * SMOOTHING
    if (hash.startsWith(nativePrefix)) nativeMs = average(nativeMs)
    else foreignMs.set(kindOf(hash), average(foreignMs.get(kindOf(hash))))
    floorMs = foreignMs.size === 0 ? 0 : Math.min(FLOOR_MAX_NATIVE_MULTIPLE * nativeMs, Math.max(...foreignMs.values()))
  }

  /**
   * One verification in the queue, lasting at least floorMs of compute (the rest is a timer, after
   * the queue). A hash that cannot be verified (hashProblem) costs a check of the dummy hash and fails.
   */
  async function check (storedHash: string, password: string): Promise<boolean> {
    const usable = hashProblem(storedHash) === undefined
    const target = usable ? storedHash : dummyHash
    const { value: ok, ms } = await queued(() => verifyAnyFormat(target, password), target.startsWith(nativePrefix))
    measured(target, ms)
    if (floorMs - ms > 1) await sleep(floorMs - ms)
    return ok && usable
  }

  return {
    /**
     * Computations running and waiting, the floor of every verification, and the wait a new
     * computation would expect (ms).
     */
    load: () => ({
      active: limit.activeCount,
      pending: limit.pendingCount,
      floorMs,
      expectedWaitMs: shedder.expectedWaitMs(limit.activeCount, limit.pendingCount)
    }),
    /** How our hashes at the current parameters begin; any other stored hash is foreign. */
    nativePrefix,
    /** Ends the floor: for when no foreign hash is stored any more, so timing has nothing left to tell apart. */
    endFloor () {
      foreignMs.clear()
      floorMs = 0
    },
    /** Resolves when every queued computation has finished (shutdown). */
    drain: async () => { await Promise.allSettled([...inFlight]) },
    /** A new hash: argon2id at the configured parameters, of the NFKC form. @throws OverloadedError */
    hash: async (password: string) => (await queued(() => hashPassword(password, argon2))).value,
    /**
     * Checks a password against a stored hash of any supported format, or against the dummy hash
     * when there is no user; a malformed or over-bound hash is a failed check, never a 500.
     * @throws OverloadedError
     */
    async verify (storedHash: string | undefined, password: string): Promise<Verification> {
      const ok = await check(storedHash ?? dummyHash, password) && storedHash !== undefined
      return { ok, rehash: ok && needsRehash(storedHash, argon2) }
    },
    /**
     * Measures a failed verification of each sample hash (one per stored foreign kind, see
     * UserStore.foreignHashSamples) and makes the slowest the floor of every verification.
     * Samples with a hashProblem are skipped: they are never computed.
     */
    async calibrate (samples: readonly string[]): Promise<number> {
      for (const sample of samples) {
        if (hashProblem(sample) !== undefined) continue
        const { ms } = await queued(() => verifyAnyFormat(sample, randomBytes(12).toString('base64url')), false)
        measured(sample, ms)
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
