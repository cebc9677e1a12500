import { Secret, TOTP } from 'otpauth'
import type { AuthEvents, EventContext } from '../core/events.js'
import { InvalidGrantError, MfaRequiredError, MfaStateError, MfaUnavailableError, NotFoundError, PolicyError } from '../errors.js'
import { hashToken, newRefreshToken } from '../identifiers.js'
import type { AuthStore, MfaStore } from '../stores/auth-store.js'
import type { UserRecord } from '../schemas/user.js'
import { parseAmr, type LoginCheck } from './login.js'
import { throttleKey, type LoginThrottle } from './login-throttle.js'
import { createSecretBox, hashRecoveryCode, newRecoveryCode, SecretUnreadableError } from './mfa-crypto.js'
import type { PasswordHasher } from './passwords.js'
import type { EndReason } from './sessions.js'

/** RFC 6238 as the contract fixes it: SHA-1, 6 digits, 30-second steps, one step of drift either way. */
export const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30, window: 1 } as const
/** How long an `mfa_token` lives, and how many wrong codes it takes. */
export const MFA_TOKEN_TTL_SECONDS = 300
export const MFA_TOKEN_MAX_FAILURES = 5
/** Recovery codes made at once (each 64 random bits). */
export const RECOVERY_CODE_COUNT = 10

/** The part of a pino logger this service writes to. */
interface MfaLog { warn (object: object, message: string): void, error (object: object, message: string): void }

/** `GET /users/me/mfa`. */
export interface MfaStatus { totp: 'off' | 'pending' | 'on', recovery_codes_left: number }

export interface MfaSettings {
  /** the `issuer` of otpauth URIs: PUBLIC_URL's hostname, or the token issuer's */
  issuerName: string
  /** DATA_ENCRYPTION_KEY (32 bytes, base64); without it secrets are stored unencrypted (development) */
  encryptionKey?: string
  /** refuse enrolment without a key (production) */
  requireEncryption: boolean
  /** the client_id of requests that name none (an mfa_token is bound to it) */
  defaultClientId: string
}

/** A second factor proven at the token endpoint: what the login's last steps need. */
export interface ProvenChallenge { userId: string, clientId: string, scope: string | undefined, amr: string[] }

const SIX_DIGITS = /^\d{6}$/
/** Longer input is no code of ours (recovery codes are 16 hex digits with separators). */
const MAX_CODE_LENGTH = 64

/**
 * Two-factor authentication (issue 21; CONTRACT.md "Two-factor authentication"), free of Fastify:
 * TOTP enrolment (behind the password) and confirmation, recovery codes, turning it off, the
 * admin reset, the password grant's check (`loginCheck`: 403 mfa_required with an `mfa_token`, or
 * a valid `otp` in the form) and the two Auth0 grants' proof (`proveChallenge`).
 *
 * Replay safety (RFC 6238 §5.2): the last accepted time step is stored and advanced by the store's
 * compare-and-set, so a code is accepted once and racing uses of one code give one success.
 * Every wrong code counts toward the account's login lock (the throttle's `user:<id>` key).
 * Without `store.mfa` every method but `loginCheck` (which then passes) answers 404.
 */
export function createMfaService (deps: {
  store: AuthStore
  passwords: PasswordHasher
  throttle: LoginThrottle
  events: AuthEvents
  log: MfaLog
  /** ends sessions (the session service's endAll) */
  endSessions: (userId: string, exceptSessionId: string | undefined, reason: EndReason) => Promise<number>
  settings: MfaSettings
}) {
  const { store, passwords, throttle, events, log, endSessions, settings } = deps
  const box = createSecretBox(settings.encryptionKey)
  const keyOf = (userId: string) => throttleKey({ id: userId }, '')

  function mfaStore (): MfaStore {
    if (store.mfa === undefined) throw new NotFoundError('Two-factor authentication')
    return store.mfa
  }

  /** The secret in clear. @throws MfaUnavailableError when it does not decrypt (logged) */
  function openSecret (sealed: string, userId: string): string {
    try {
      return box.open(sealed, userId)
    } catch (error) {
      if (!(error instanceof SecretUnreadableError)) throw error
      log.error({ event: 'mfa-secret', userId, reason: error.message }, 'a TOTP secret cannot be read: check DATA_ENCRYPTION_KEY')
      throw new MfaUnavailableError('Two-factor authentication is unavailable: the server cannot read this account\'s TOTP secret')
    }
  }

  /** The RFC 6238 time step `code` belongs to (within the drift window), or undefined. */
  function matchStep (secretBase32: string, code: string, now: number): number | undefined {
    if (!SIX_DIGITS.test(code)) return undefined
    const totp = new TOTP({ ...TOTP_PARAMETERS, secret: Secret.fromBase32(secretBase32) })
    const delta = totp.validate({ token: code, timestamp: now, window: TOTP_PARAMETERS.window })
    return delta === null ? undefined : TOTP.counter({ period: TOTP_PARAMETERS.period, timestamp: now }) + delta
  }

  /** A TOTP code of a user with TOTP on, accepted at most once (compare-and-set on the step). */
  async function acceptTotp (userId: string, code: string, now: number): Promise<boolean> {
    const totp = await mfaStore().getTotp(userId)
    if (totp === undefined || totp.state !== 'on') return false
    const step = matchStep(openSecret(totp.secret, userId), code, now)
    if (step === undefined || step <= totp.last_step) return false
    return mfaStore().advanceStep(userId, step)
  }

  /** An unused recovery code of the user, used up now (compare-and-set). */
  async function acceptRecoveryCode (userId: string, code: string, now: number): Promise<boolean> {
    if (code.length === 0 || code.length > MAX_CODE_LENGTH) return false
    return mfaStore().useRecoveryCode(userId, hashRecoveryCode(code), now)
  }

  /**
   * A code for a signed-in user's change: six digits are a TOTP code, anything else a recovery
   * code. The lock is checked first; a wrong code counts toward it and emits `mfa.failed`.
   * @throws LoginLockedError, PolicyError (field 'code') for a wrong, used or expired code
   */
  async function proveCode (userId: string, code: string, context: EventContext, purpose: string): Promise<'otp' | 'recovery_code'> {
    const slot = await throttle.attempt(keyOf(userId))
    const now = Date.now()
    const kind = SIX_DIGITS.test(code) ? 'otp' : 'recovery_code'
    try {
      const ok = kind === 'otp' ? await acceptTotp(userId, code, now) : await acceptRecoveryCode(userId, code, now)
      if (ok) {
        await throttle.succeeded(keyOf(userId))
        return kind
      }
      await slot.failed()
    } finally {
      await slot.release()
    }
    events.emit({ ...context, type: 'mfa.failed', user_id: userId, data: { reason: `${purpose}: wrong ${kind}` } })
    throw new PolicyError('Invalid, used or expired code', 'code')
  }

  /** New recovery codes: the codes in clear (shown once) and their hashes (stored). */
  function recoveryCodes () {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
    return { codes, hashes: codes.map(hashRecoveryCode) }
  }

  /** The otpauth URI of the contract (Google Authenticator's key URI format). */
  function otpauthUri (secret: string, username: string): string {
    const issuer = encodeURIComponent(settings.issuerName)
    return `otpauth://totp/${issuer}:${encodeURIComponent(username)}?secret=${secret}&issuer=${issuer}` +
      `&algorithm=${TOTP_PARAMETERS.algorithm}&digits=${TOTP_PARAMETERS.digits}&period=${TOTP_PARAMETERS.period}`
  }

  /** `GET /users/me/mfa` for this user. @throws NotFoundError without an MFA store */
  async function status (userId: string): Promise<MfaStatus> {
    const totp = await mfaStore().getTotp(userId)
    return { totp: totp?.state ?? 'off', recovery_codes_left: totp?.state === 'on' ? await mfaStore().countRecoveryCodes(userId) : 0 }
  }

  /** The password grant's second-factor check (see createMfaService). */
  const loginCheck: LoginCheck = {
    name: 'mfa',
    secondFactor: true,
    async check (attempt) {
      if (store.mfa === undefined) return
      const totp = await store.mfa.getTotp(attempt.user.id)
      if (totp === undefined || totp.state !== 'on') return
      const otp = attempt.form.otp
      if (otp !== undefined && otp !== '') {
        // The password step checked the lock already; a wrong code counts toward it.
        if (!await acceptTotp(attempt.user.id, otp, Date.now())) {
          await throttle.failed(keyOf(attempt.user.id))
          events.emit({ ...attempt.context, type: 'mfa.failed', user_id: attempt.user.id, data: { reason: 'password grant: wrong otp' } })
          throw new InvalidGrantError('mfa')
        }
        attempt.amr.push('otp')
        return
      }
      const token = newRefreshToken()
      const now = Date.now()
      await store.mfa.createChallenge({
        token_hash: hashToken(token),
        user_id: attempt.user.id,
        client_id: attempt.clientId ?? settings.defaultClientId,
        scope: attempt.scope ?? null,
        amr: JSON.stringify(attempt.amr),
        created_at: now,
        expires_at: now + MFA_TOKEN_TTL_SECONDS * 1000
      })
      events.emit({ ...attempt.context, type: 'mfa.challenged', user_id: attempt.user.id, data: { methods: ['otp', 'recovery_code'] } })
      throw new MfaRequiredError(token)
    }
  }

  return {
    loginCheck,
    status,
    /** Whether secrets are encrypted at rest (DATA_ENCRYPTION_KEY is set). */
    encrypts: box.encrypts,

    /**
     * Starts (or restarts) enrolment after re-authentication by the password: a new secret,
     * pending until confirmed. Resolves the base32 secret and its otpauth URI (shown once).
     * @throws PolicyError (field 'password') for a wrong password (counted toward the lock),
     * LoginLockedError, MfaStateError (409) when TOTP is on, MfaUnavailableError in production
     * without DATA_ENCRYPTION_KEY, NotFoundError
     */
    async startTotp (user: { id: string, username: string }, password: string): Promise<{ secret: string, otpauth_uri: string }> {
      const mfa = mfaStore()
      if (settings.requireEncryption && !box.encrypts) throw new MfaUnavailableError('Two-factor authentication needs DATA_ENCRYPTION_KEY on this server')
      const key = keyOf(user.id)
      const slot = await throttle.attempt(key)
      let stored: UserRecord | undefined
      try {
        stored = await store.users.findById(user.id)
        if (stored === undefined) throw new NotFoundError('User')
        if (!(await passwords.verify(stored.password_hash ?? undefined, password)).ok) {
          await slot.failed()
          throw new PolicyError('Password is incorrect', 'password')
        }
        await throttle.succeeded(key)
      } finally {
        await slot.release()
      }
      const secret = new Secret({ size: 20 }).base32
      if (!await mfa.putPendingTotp(user.id, box.seal(secret, user.id), Date.now())) throw new MfaStateError('TOTP is already on: turn it off first')
      return { secret, otpauth_uri: otpauthUri(secret, stored.username) }
    },

    /**
     * Confirms a pending enrolment with a first code, which is spent (never accepted again): TOTP
     * on, 10 recovery codes (resolved in clear, once), every other session ended, `mfa.enabled`.
     * @throws MfaStateError (409) with nothing pending, PolicyError (field 'code'), LoginLockedError
     */
    async confirmTotp (userId: string, code: string, context: EventContext & { session_id?: string | null }): Promise<{ recovery_codes: string[] }> {
      const mfa = mfaStore()
      const totp = await mfa.getTotp(userId)
      if (totp?.state === 'on') throw new MfaStateError('TOTP is already on')
      if (totp === undefined) throw new MfaStateError('No TOTP enrolment to confirm: POST /users/me/mfa/totp first')
      const slot = await throttle.attempt(keyOf(userId))
      const now = Date.now()
      const { codes, hashes } = recoveryCodes()
      try {
        const step = matchStep(openSecret(totp.secret, userId), code, now)
        if (step === undefined || !await mfa.activateTotp(userId, step, hashes, now)) {
          await slot.failed()
          events.emit({ ...context, type: 'mfa.failed', user_id: userId, data: { reason: 'confirm: wrong otp' } })
          throw new PolicyError('Invalid, used or expired code', 'code')
        }
      } finally {
        await slot.release()
      }
      await endSessions(userId, context.session_id ?? undefined, 'mfa')
      await mfa.deleteChallenges(userId)
      events.emit({ ...context, type: 'mfa.enabled', user_id: userId, actor_id: userId, data: { method: 'totp' } })
      return { recovery_codes: codes }
    },

    /**
     * Turns TOTP off with a current code (TOTP or recovery): the secret and recovery codes are
     * deleted, every other session ends, `mfa.disabled`.
     * @throws MfaStateError (409) when TOTP is not on, PolicyError (field 'code'), LoginLockedError
     */
    async disableTotp (userId: string, code: string, context: EventContext & { session_id?: string | null }): Promise<void> {
      const mfa = mfaStore()
      if ((await mfa.getTotp(userId))?.state !== 'on') throw new MfaStateError('TOTP is not on')
      const method = await proveCode(userId, code, context, 'disable')
      await mfa.deleteTotp(userId)
      await mfa.deleteChallenges(userId)
      await endSessions(userId, context.session_id ?? undefined, 'mfa')
      events.emit({ ...context, type: 'mfa.disabled', user_id: userId, actor_id: userId, data: { by: 'user', method } })
    },

    /**
     * 10 new recovery codes for a current code; the old ones stop working; every other session
     * ends; `mfa.enabled` with data.change 'recovery_codes'.
     * @throws MfaStateError (409) when TOTP is not on, PolicyError (field 'code'), LoginLockedError
     */
    async regenerateRecoveryCodes (userId: string, code: string, context: EventContext & { session_id?: string | null }): Promise<{ recovery_codes: string[] }> {
      const mfa = mfaStore()
      if ((await mfa.getTotp(userId))?.state !== 'on') throw new MfaStateError('TOTP is not on')
      const method = await proveCode(userId, code, context, 'recovery codes')
      const { codes, hashes } = recoveryCodes()
      await mfa.replaceRecoveryCodes(userId, hashes, Date.now())
      await endSessions(userId, context.session_id ?? undefined, 'mfa')
      events.emit({ ...context, type: 'mfa.enabled', user_id: userId, actor_id: userId, data: { method: 'totp', change: 'recovery_codes', proven_by: method } })
      return { recovery_codes: codes }
    },

    /**
     * An admin (or the CLI) turns a user's TOTP off: secret and codes deleted, every session of
     * the user ended, `mfa.disabled` with the actor. Resolves whether TOTP was on or pending.
     * @throws NotFoundError for an unknown user
     */
    async reset (userId: string, actor: { id: string | null, via: 'admin' | 'cli' }, context: EventContext = {}): Promise<boolean> {
      const mfa = mfaStore()
      if (await store.users.findById(userId) === undefined) throw new NotFoundError('User')
      const was = await mfa.deleteTotp(userId)
      await mfa.deleteChallenges(userId)
      await endSessions(userId, undefined, 'admin')
      events.emit({ ...context, type: 'mfa.disabled', user_id: userId, actor_id: actor.id, data: { by: actor.via, was_on: was } })
      return was
    },

    /**
     * The two Auth0 grants' proof: a live `mfa_token` of this client (and scope, when one is
     * sent) and a code of its user — a TOTP code (`otp`) or a recovery code. A wrong code counts
     * against the token (5 and it is dead) and the account's lock; a right one uses the token up
     * (compare-and-set: racing requests get one success) and clears the lock's count.
     * @throws InvalidGrantError('mfa') — one message for every cause — or LoginLockedError
     */
    async proveChallenge (input: { mfaToken: string, code: string, kind: 'otp' | 'recovery_code', clientId: string | undefined, scope: string | undefined, context: EventContext }): Promise<ProvenChallenge> {
      const mfa = store.mfa
      if (mfa === undefined) throw new InvalidGrantError('mfa')
      const hash = hashToken(input.mfaToken)
      const challenge = await mfa.findChallenge(hash)
      const now = Date.now()
      if (challenge === undefined || challenge.used_at !== null || challenge.expires_at <= now || challenge.failures >= MFA_TOKEN_MAX_FAILURES ||
        (input.clientId ?? settings.defaultClientId) !== challenge.client_id ||
        (input.scope !== undefined && input.scope !== (challenge.scope ?? ''))) {
        if (challenge !== undefined) events.emit({ ...input.context, type: 'mfa.failed', user_id: challenge.user_id, data: { reason: 'mfa_token not usable here' } })
        throw new InvalidGrantError('mfa')
      }
      const key = keyOf(challenge.user_id)
      const slot = await throttle.attempt(key)
      try {
        const ok = input.kind === 'otp'
          ? await acceptTotp(challenge.user_id, input.code, now)
          : await acceptRecoveryCode(challenge.user_id, input.code, now)
        if (!ok) {
          await mfa.failChallenge(hash, MFA_TOKEN_MAX_FAILURES, now)
          await slot.failed()
          events.emit({ ...input.context, type: 'mfa.failed', user_id: challenge.user_id, data: { reason: `wrong ${input.kind}` } })
          throw new InvalidGrantError('mfa')
        }
        if (!await mfa.consumeChallenge(hash, now, MFA_TOKEN_MAX_FAILURES)) throw new InvalidGrantError('mfa')
      } finally {
        await slot.release()
      }
      await throttle.succeeded(key)
      return { userId: challenge.user_id, clientId: challenge.client_id, scope: challenge.scope ?? undefined, amr: [...parseAmr(challenge.amr), 'otp'] }
    },

    /** Whether any user has TOTP (on or pending). */
    inUse: async (): Promise<boolean> => store.mfa !== undefined && await store.mfa.anyTotp(),

    /** Deletes expired mfa_tokens (the hourly clean-up). */
    purge: async (): Promise<number> => store.mfa === undefined ? 0 : store.mfa.purgeChallenges(Date.now())
  }
}
export type MfaService = ReturnType<typeof createMfaService>
