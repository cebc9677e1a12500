import { pbkdf2, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { parseOptions as parseArgon2, verify as argon2Verify, type Options as Argon2Options } from '@node-rs/argon2'
import { verify as bcryptVerify } from '@node-rs/bcrypt'

/*
 * Password hashes written by other software (passlib and argon2-cffi in a FastAPI app), verified
 * the way that software verifies them, so imported users log in with their original password.
 * The reference is passlib 1.7.4 with the pyca/bcrypt and argon2-cffi backends, as FastAPI's
 * tutorial uses it (`CryptContext(schemes=["bcrypt"])`); test/fixtures/foreign-hashes.json holds
 * hashes and verdicts made by those libraries (scripts/make-hash-fixtures.py).
 *
 * Passwords: passlib hashes the UTF-8 bytes of the password as typed, without normalisation, so
 * every format tries the raw password first. Only argon2 also tries the NFKC form: this project
 * writes argon2id hashes of NFKC-normalised passwords (services/passwords.ts), and an argon2 hash
 * does not say who made it, so one argon2 verifier serves ours and imported ones. bcrypt and
 * pbkdf2 hashes never come from this project: an NFKC attempt could only accept a password that
 * the original app refused, and would double the cost of some wrong guesses.
 */

export type HashFormatName = 'bcrypt' | 'pbkdf2-sha256' | 'argon2'

/** One hash format that can be verified. Every method takes any string and never throws. */
export interface HashFormat {
  readonly name: HashFormatName
  /** Whether the hash carries this format's identifier (as passlib's `identify`): a prefix test, not validation. */
  matches (hash: string): boolean
  /** Why a hash of this format cannot be verified (malformed, or costlier than HASH_WORK_LIMITS), or undefined. */
  problem (hash: string): string | undefined
  /**
   * Resolves true when `password` matches, false otherwise: a wrong password, a hash with a
   * `problem`, or a password that passlib refuses to verify (it raises; the app would not log in).
   */
  verify (hash: string, password: string): Promise<boolean>
}

/**
 * The bound on one verification: no more work than the login the app being left already did,
 * passlib's default bcrypt (cost 12, FastAPI's tutorial), and at most 100 MiB of memory. A hash
 * beyond it has a `problem`: import refuses it, naming the row, and a stored one (written before
 * this bound, or by hand) is never computed: services/passwords.ts verifies the dummy hash instead
 * and fails, so it costs one ordinary check, never stops the start or the CLI, and its user must
 * reset the password.
 *
 * Measured on the 2-core test machine (Node 20; three runs of medians of 9 interleaved rounds, the
 * host shared with other test runs, which slows argon2's memory-bound work the most). "native"
 * is this project's argon2id, m=19456 KiB, t=2, p=1: 8–10 ms.
 *
 * | hash                                              | ms      | × native | here      |
 * |---------------------------------------------------|---------|----------|-----------|
 * | bcrypt cost 12 (passlib's default)                | 225–279 | 27–28    | the limit |
 * | bcrypt cost 13                                    | 480–550 | 53–60    | refused   |
 * | pbkdf2-sha256 29,000 rounds (passlib's default)   | 5–6     | 0.5–0.7  | accepted  |
 * | pbkdf2-sha256 600,000 rounds (OWASP 2023)         | 113–143 | 11–18    | the limit |
 * | pbkdf2-sha256 1,000,000 rounds                    | 196–204 | 19–21    | refused   |
 * | argon2id m=65536, t=3, p=4 (argon2-cffi, pwdlib)  | 62–146  | 8–15     | accepted  |
 * | argon2id m=102400, t=2, p=8 (passlib's argon2)    | 73–188  | 9–19     | accepted  |
 * | argon2 m=102400, t=3 (memory × passes limit)      | 105–178 | 12–18    | the limit |
 *
 * The old limits let one verification take 2 GiB and 5.6 s (argon2), ~4 s (bcrypt 16) or ~2 s
 * (pbkdf2 10 million rounds). argon2's lanes do not run in parallel here (CPU time = wall time),
 * so its work is memory × passes; memory is in KiB. test/services/hash-bounds.test.ts measures
 * each limit beside a native verification on every run.
 */
export const HASH_WORK_LIMITS = Object.freeze({
  bcryptMaxCost: 12,
  pbkdf2MaxRounds: 600_000,
  argon2MaxMemoryKiB: 102_400,
  argon2MaxMemoryTimesPasses: 307_200,
  // Tiny memory with many passes or lanes slips under m × t yet costs seconds (found from outside:
  // m=24, t=12800, p=3 took 1.5 s): passes and lanes are bounded on their own.
  argon2MaxPasses: 16,
  argon2MaxLanes: 16
})

/** Appended to every over-limit problem: what the limit is for. */
const BEYOND = ' (a login may cost at most the work of bcrypt cost 12 and 100 MiB: README, "Moving your users")'

/** passlib's MAX_PASSWORD_SIZE: it raises PasswordSizeError on longer passwords. */
const PASSLIB_MAX_PASSWORD_SIZE = 4096
/** bcrypt reads at most this many bytes of the password (pyca/bcrypt truncates, passlib lets it). */
const BCRYPT_MAX_BYTES = 72

/**
 * Passwords that passlib raises on for every format: lone UTF-16 surrogates (not encodable as
 * UTF-8) and more than 4096 code points (Python's len() of the str).
 */
function passlibRefuses (password: string): boolean {
  if (typeof password !== 'string' || /\p{Surrogate}/u.test(password)) return true
  return password.length > PASSLIB_MAX_PASSWORD_SIZE && [...password].length > PASSLIB_MAX_PASSWORD_SIZE
}

// bcrypt --------------------------------------------------------------------------------------

const BCRYPT_HASH = /^\$(2[aby])\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/
const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Clears the unused low bits of a bcrypt-base64 character (passlib's repair_unused). */
const clearBits = (char: string, keep: number) => BCRYPT64[BCRYPT64.indexOf(char) & keep] ?? char

const bcrypt: HashFormat = {
  name: 'bcrypt',
  matches: hash => /^\$2[aby]\$/.test(hash),
  problem (hash) {
    const match = BCRYPT_HASH.exec(hash)
    if (match === null) return 'malformed bcrypt hash: expected $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and checksum'
    const cost = Number(match[2])
    if (cost < 4 || cost > 31) return `bcrypt cost ${cost} is outside 4-31`
    if (cost > HASH_WORK_LIMITS.bcryptMaxCost) return `bcrypt cost ${cost} exceeds the limit of ${HASH_WORK_LIMITS.bcryptMaxCost}${BEYOND}`
    return undefined
  },
  /*
   * As passlib's bcrypt with truncate_error=False (its default) on pyca/bcrypt: the password's
   * UTF-8 bytes, refused if they contain NUL or exceed 4096 bytes, else cut to the first 72
   * bytes, even inside a multibyte character. $2a$, $2b$ and $2y$ hash alike (pyca/bcrypt also
   * truncates $2a$, so the old 255-byte wraparound never applies). passlib accepts hashes whose
   * salt and checksum have non-zero unused bits (it warns and repairs them); @node-rs/bcrypt
   * refuses them, so they are repaired here as well.
   */
  async verify (hash, password) {
    if (bcrypt.problem(hash) !== undefined || passlibRefuses(password)) return false
    const bytes = Buffer.from(password, 'utf8')
    if (bytes.includes(0) || bytes.length > PASSLIB_MAX_PASSWORD_SIZE) return false
    const salt = hash.slice(7, 29)
    const checksum = hash.slice(29)
    const repaired = hash.slice(0, 7) + salt.slice(0, 21) + clearBits(salt.charAt(21), 0x30) +
      checksum.slice(0, 30) + clearBits(checksum.charAt(30), 0x3c)
    try {
      return await bcryptVerify(bytes.subarray(0, BCRYPT_MAX_BYTES), repaired)
    } catch {
      return false
    }
  }
}

// passlib pbkdf2_sha256 -----------------------------------------------------------------------

const PBKDF2_HASH = /^\$pbkdf2-sha256\$(0|[1-9]\d{0,9})\$([./+A-Za-z0-9]*)\$([./+A-Za-z0-9]+)$/
const PBKDF2_DIGEST_BYTES = 32
const PBKDF2_MAX_SALT_BYTES = 1024
const pbkdf2Async = promisify(pbkdf2)

/** passlib's ab64_decode: base64 without padding, with '.' for '+' ('+' is accepted as well). */
function ab64Decode (text: string): Buffer | undefined {
  if (text.length % 4 === 1) return undefined
  return Buffer.from(text.replaceAll('.', '+'), 'base64')
}

type Pbkdf2Parts = { rounds: number, salt: Buffer, checksum: Buffer }

/** passlib's pbkdf2_sha256.from_string: `$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 32-byte digest>`. */
function parsePbkdf2 (hash: string): Pbkdf2Parts | string {
  const match = PBKDF2_HASH.exec(hash)
  if (match === null) return 'malformed pbkdf2-sha256 hash: expected $pbkdf2-sha256$<rounds>$<salt>$<checksum>'
  const rounds = Number(match[1])
  const salt = ab64Decode(match[2] ?? '')
  const checksum = ab64Decode(match[3] ?? '')
  if (rounds < 1 || rounds > 0xffffffff) return `pbkdf2-sha256 rounds ${rounds} are outside 1-4294967295`
  if (rounds > HASH_WORK_LIMITS.pbkdf2MaxRounds) return `pbkdf2-sha256 rounds ${rounds} exceed the limit of ${HASH_WORK_LIMITS.pbkdf2MaxRounds}${BEYOND}`
  if (salt === undefined || salt.length > PBKDF2_MAX_SALT_BYTES) return 'malformed pbkdf2-sha256 salt'
  if (checksum?.length !== PBKDF2_DIGEST_BYTES) return 'malformed pbkdf2-sha256 checksum: expected 32 bytes'
  return { rounds, salt, checksum }
}

const pbkdf2Sha256: HashFormat = {
  name: 'pbkdf2-sha256',
  matches: hash => hash.startsWith('$pbkdf2-sha256$'),
  problem (hash) {
    const parts = parsePbkdf2(hash)
    return typeof parts === 'string' ? parts : undefined
  },
  /** PBKDF2-HMAC-SHA256 (RFC 8018) of the password's UTF-8 bytes, on the thread pool; constant-time comparison. */
  async verify (hash, password) {
    const parts = parsePbkdf2(hash)
    if (typeof parts === 'string' || passlibRefuses(password)) return false
    try {
      const digest = await pbkdf2Async(Buffer.from(password, 'utf8'), parts.salt, parts.rounds, PBKDF2_DIGEST_BYTES, 'sha256')
      return timingSafeEqual(digest, parts.checksum)
    } catch {
      return false
    }
  }
}

// argon2 (PHC string format, as argon2-cffi and passlib write it) ------------------------------

function argon2Problem (hash: string): string | undefined {
  let options
  try {
    options = parseArgon2(hash)
  } catch {
    return 'malformed argon2 hash: expected $argon2id$, $argon2i$ or $argon2d$ in the PHC string format'
  }
  const { memoryCost, timeCost, parallelism } = options
  if (timeCost > HASH_WORK_LIMITS.argon2MaxPasses) return `argon2 passes ${timeCost} exceed the limit of ${HASH_WORK_LIMITS.argon2MaxPasses}${BEYOND}`
  if (parallelism > HASH_WORK_LIMITS.argon2MaxLanes) return `argon2 lanes ${parallelism} exceed the limit of ${HASH_WORK_LIMITS.argon2MaxLanes}${BEYOND}`
  if (memoryCost > HASH_WORK_LIMITS.argon2MaxMemoryKiB) {
    return `argon2 memory ${memoryCost} KiB exceeds the limit of ${HASH_WORK_LIMITS.argon2MaxMemoryKiB} KiB${BEYOND}`
  }
  if (memoryCost * timeCost > HASH_WORK_LIMITS.argon2MaxMemoryTimesPasses) {
    return `argon2 memory × passes (${memoryCost} KiB × ${timeCost}) exceeds the limit of ${HASH_WORK_LIMITS.argon2MaxMemoryTimesPasses} KiB${BEYOND}`
  }
  return undefined
}

async function argon2Matches (hash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(hash, password)
  } catch {
    return false
  }
}

const argon2: HashFormat = {
  name: 'argon2',
  matches: hash => /^\$argon2(?:id|i|d)\$/.test(hash),
  problem: argon2Problem,
  /**
   * With the parameters the hash carries (@node-rs/argon2, RFC 9106; versions 0x10 and 0x13):
   * the raw password, then its NFKC form when that differs (see the note at the top).
   */
  async verify (hash, password) {
    if (argon2Problem(hash) !== undefined || passlibRefuses(password)) return false
    if (await argon2Matches(hash, password)) return true
    const normalized = password.normalize('NFKC')
    return normalized !== password && argon2Matches(hash, normalized)
  }
}

// the registry ----------------------------------------------------------------------------------

/** Every format this module verifies, in the order `formatOf` tries them. */
export const HASH_FORMATS: readonly HashFormat[] = Object.freeze([bcrypt, pbkdf2Sha256, argon2])

/** The format whose identifier the hash carries, or undefined when none does (or `hash` is not a string). */
export function formatOf (hash: string): HashFormat | undefined {
  if (typeof hash !== 'string') return undefined
  return HASH_FORMATS.find(format => format.matches(hash))
}

/**
 * Why `hash` cannot be verified here: an unknown format, a malformed hash, or one beyond
 * HASH_WORK_LIMITS; undefined when it can. Import validation reports it by row, and the password
 * hasher checks it before every verification, so a stored hash with a problem is never computed.
 */
export function hashProblem (hash: string): string | undefined {
  const format = formatOf(hash)
  if (format === undefined) return 'unknown hash format: expected bcrypt ($2a$, $2b$, $2y$), passlib $pbkdf2-sha256$ or argon2 ($argon2id$, $argon2i$, $argon2d$)'
  return format.problem(hash)
}

/**
 * Verifies `password` against a hash of any format in HASH_FORMATS. Resolves false for a wrong
 * password and for an unknown, malformed or over-limit hash; never rejects. The work runs on
 * libuv's thread pool: callers bound the concurrency (as the password hasher's queue does).
 */
export async function verifyAnyFormat (hash: string, password: string): Promise<boolean> {
  const format = formatOf(hash)
  return format === undefined ? false : format.verify(hash, password)
}

/**
 * Whether a stored hash should be replaced, after a successful login, by a hash made with
 * `current` (this project's ARGON2_OPTIONS): true for every format but argon2, and for argon2
 * with another variant, version, memory, passes, lanes, digest length, or a salt under 16 bytes.
 * Options left out of `current` take @node-rs/argon2's defaults (argon2id, 0x13, 19456 KiB, 2, 1, 32 bytes).
 * An unparsable hash needs rehashing too (it cannot have verified).
 */
export function needsRehash (hash: string, current: Argon2Options): boolean {
  if (formatOf(hash) !== argon2) return true
  try {
    const stored = parseArgon2(hash)
    return stored.algorithm !== (current.algorithm ?? 2) ||
      stored.version !== (current.version ?? 1) ||
      stored.memoryCost !== (current.memoryCost ?? 19456) ||
      stored.timeCost !== (current.timeCost ?? 2) ||
      stored.parallelism !== (current.parallelism ?? 1) ||
      stored.outputLen !== (current.outputLen ?? 32) ||
      stored.saltLen < 16
  } catch {
    return true
  }
}

/**
 * A rough relative cost of verifying `hash` (ms on one 2020s core), for ranking kinds: bcrypt cost
 * 12 ≈ 250, pbkdf2-sha256 600,000 rounds ≈ 120, argon2 m × t = 300 MiB ≈ 150. 0 when unknown.
 */
export function estimatedCostMs (hash: string): number {
  const format = formatOf(hash)
  if (format === undefined || format.problem(hash) !== undefined) return 0
  if (format === bcrypt) return 250 * 2 ** (Number(hash.slice(4, 6)) - 12)
  if (format === pbkdf2Sha256) return Number(hash.split('$')[2]) * 0.0002
  const { memoryCost, timeCost } = parseArgon2(hash)
  return memoryCost * timeCost * 0.0005
}
