import type { AuthEvents, EventContext, EventInput } from '../core/events.js'
import { runBeforeUserCreated, type AuthHooks, type AuthUserMetadata, type UserOrigin } from '../core/hooks.js'
import { NotFoundError, PolicyError } from '../errors.js'
import type { UserCreate, UserPublic, UserRecord } from '../schemas/user.js'
import type { AuthStore, NewUser, UserPatch } from '../stores/auth-store.js'
import { passwordPolicyViolation, type PasswordHasher } from './passwords.js'
import { jsonStructureProblem } from '../json.js'
import { identityKey } from '../identifiers.js'
import type { AccountNotice } from '../mail/templates.js'
import { isEmailLogin, loginNameProblem } from './login-names.js'
import { findExistingConflicts, parseUserImport, type ImportError } from './user-import.js'
import { throttleKey, type LoginThrottle } from './login-throttle.js'
import type { SessionService } from './sessions.js'
import type { UserView } from './user-view.js'

/** What an import did, or why it did nothing (every problem, by 1-based row; 0 for the file). */
export type ImportReport =
  | { ok: true, dryRun: boolean, shape: string, imported: number, rows: Array<{ row: number, username: string, hash_format: string }> }
  | { ok: false, errors: ImportError[] }

/** The largest `metadata` a user may have, as JSON text. */
export const METADATA_MAX_CHARS = 16_384

/** Who acts on an account: the user of the request (or the command line, as an admin). */
export interface Actor { id: string, token_scopes: readonly string[] }

/**
 * E-mail as the mail plugin (plugins/mail.ts) plugs it into the account rules: a verification
 * message for every new, unverified address, notices of sensitive changes, and its limits.
 * (REQUIRE_VERIFIED_EMAIL is a login check: services/login.ts.)
 */
export interface EmailVerification {
  /** queues a verification message to the user's address; reports its own failures, never throws */
  send (user: UserRecord): Promise<void>
  /** queues the notice of a sensitive change to `to`, the address before it; never throws */
  notify?: (to: string, notice: AccountNotice) => Promise<void>
  /** lifts the per-account limits of the mail flows (the e-mail cooldowns): `users unlock` */
  clearLimits?: (userId: string) => Promise<void>
}

/**
 * The rules of accounts, free of Fastify: registration, profile and admin updates, disabling,
 * deletion, passwords. The one door for each write: `createUser` creates every user (register,
 * the CLI, imports, FIRST_SUPERUSER) after the app's `beforeUserCreated` hook; `setPassword`
 * writes every new password (change, reset) and `upgradePasswordHash` the rehash of a login;
 * sessions end only through the session service. Each emits its event after the write
 * committed. Throws the domain errors of src/errors.ts: DuplicateUserError, PolicyError,
 * NotFoundError, LoginLockedError.
 */
export function createAccountService (deps: {
  store: AuthStore
  passwords: PasswordHasher
  view: UserView
  throttle: LoginThrottle
  sessions: SessionService
  events: AuthEvents
  hooks: AuthHooks
  log: { info (event: object, message: string): void, warn (event: object, message: string): void }
  settings: { passwordMinLength: number }
}) {
  const { store, passwords, view: toPublic, throttle, sessions, events, hooks, log, settings } = deps
  /** Set by the mail plugin; without it no verification e-mail is sent and none is required. */
  let verification: EmailVerification | undefined

  /** @throws PolicyError when the password policy refuses it */
  async function hashNewPassword (password: string, username: string): Promise<string> {
    const violation = passwordPolicyViolation(password, settings.passwordMinLength, username)
    if (violation !== undefined) throw new PolicyError(violation, 'password')
    return passwords.hash(password)
  }

  /** A verification e-mail for an address that is set and not verified (a new one is not). */
  async function verifyAddress (user: UserRecord): Promise<void> {
    if (verification !== undefined && user.email !== null && !user.email_verified) await verification.send(user)
  }

  async function found (id: string): Promise<UserRecord> {
    const user = await store.users.findById(id)
    if (user === undefined) throw new NotFoundError('User')
    return user
  }

  /** Whether `next` (a patch's e-mail) is another address than `current`, ignoring case and IDN form. */
  const emailChanges = (current: string | null, next: string | null | undefined) =>
    next !== undefined && (current === null ? next !== null : next === null || identityKey(current) !== identityKey(next))

  /**
   * Applies a patch; disabling a user ends their sessions (ASVS 7.4.2); a new address gets a
   * verification e-mail and the old one the notice of the change (ASVS 6.3.7).
   */
  async function update (id: string, patch: UserPatch, before?: UserRecord, context: EventContext = {}): Promise<UserPublic> {
    const previous = before ?? (patch.email !== undefined ? await store.users.findById(id) : undefined)
    // The field names only, never their values (an e-mail is personal data, a hash a secret).
    const named = Object.keys(patch).filter(field => field !== 'password_hash' && field !== 'disabled') as Array<keyof UserPatch>
    // Only the fields whose stored value changed (the same full_name sent again records nothing): compared in the transaction.
    const changed = (old: UserRecord, updated: UserRecord) => named.filter(field =>
      JSON.stringify((old as Record<string, unknown>)[field] ?? null) !== JSON.stringify((updated as Record<string, unknown>)[field] ?? null))
    const { user } = await events.within(async tx => {
      const old = named.length > 0 ? await tx.users.findById(id) : undefined
      return { old, user: await tx.users.update(id, patch) }
    }, ({ old, user: updated }) => {
      if (updated === undefined) return undefined
      const fields = old === undefined ? named : changed(old, updated)
      return [
        patch.disabled === undefined ? undefined : { ...context, type: patch.disabled ? 'user.disabled' : 'user.enabled', user_id: id },
        fields.length === 0 ? undefined : { ...context, type: 'user.updated', user_id: id, data: { fields } }
      ]
    })
    if (user === undefined) throw new NotFoundError('User')
    if (patch.disabled === true) await sessions.endAll(id, undefined, 'disabled')
    if (patch.email != null) await verifyAddress(user)
    if (previous?.email != null && emailChanges(previous.email, patch.email)) await notify(previous.email, { kind: 'email-changed', newEmail: user.email })
    return toPublic(user)
  }

  /**
   * The one door that creates a user: the app's `beforeUserCreated` hook (a refusal is a
   * PolicyError, nothing stored), the store, the verification e-mail, `user.created`. `also` runs
   * in the same transaction after the user is stored (social login links its identity there) and
   * returns its own event. @throws PolicyError, DuplicateUserError, what `also` throws
   */
  async function createUser (user: NewUser, origin: UserOrigin, context: EventContext = {}, also?: (tx: AuthStore, created: UserRecord) => Promise<EventInput>): Promise<UserPublic> {
    checkMetadataSize(user.metadata)
    await runBeforeUserCreated(hooks, { username: user.username, email: user.email ?? null, full_name: user.full_name ?? null, metadata: (user.metadata ?? undefined) as AuthUserMetadata | undefined, origin })
    const { created } = await events.within(async tx => {
      const stored = await tx.users.create(user)
      return { created: stored, extra: also === undefined ? undefined : await also(tx, stored) }
    }, ({ created, extra }) => [{ ...context, type: 'user.created', user_id: created.id, data: { origin, username: created.username } }, extra])
    await verifyAddress(created)
    return toPublic(created)
  }

  /**
   * The one door that writes a new password hash (a change, a reset): stores it (the store makes
   * outstanding reset links dead), ends every session of the user but `keepSessionId`, and emits
   * `password.changed` or `password.reset`. A reset also marks the address verified (the link
   * reached it) and ends the account's login lock. @throws NotFoundError
   */
  async function setPassword (userId: string, passwordHash: string, options: { reason: 'change' | 'reset', keepSessionId?: string, context?: EventContext }): Promise<UserRecord> {
    const reset = options.reason === 'reset'
    const user = await events.within(tx => tx.users.update(userId, reset ? { password_hash: passwordHash, email_verified: true } : { password_hash: passwordHash }),
      updated => updated === undefined ? undefined : { ...options.context, type: reset ? 'password.reset' : 'password.changed', user_id: userId })
    if (user === undefined) throw new NotFoundError('User')
    // Whoever knew the old password is logged out everywhere (ASVS 7.4.3), and an mfa_token the
    // old password got finishes no login (found from outside).
    await sessions.endAll(userId, options.keepSessionId, 'password')
    await store.mfa?.deleteChallenges(userId)
    if (reset) await throttle.succeeded(throttleKey({ id: userId }, ''))
    return user
  }

  /**
   * An app's metadata is bounded whatever its schema says: a user is read on every request and
   * listed by the page (found from outside: 1 MB per user made one admin page 42 MB).
   * @throws PolicyError
   */
  function checkMetadataSize (metadata: Record<string, unknown> | null | undefined): void {
    if (metadata != null && JSON.stringify(metadata).length > METADATA_MAX_CHARS) throw new PolicyError(`metadata must be at most ${METADATA_MAX_CHARS} characters as JSON`, 'metadata')
  }

  async function notify (to: string, notice: AccountNotice): Promise<void> {
    await verification?.notify?.(to, notice)
  }

  /**
   * Re-authentication before a sensitive change (ASVS 6.2.3, 7.5.1): the current password,
   * checked as a login checks it, its failures counted toward the account's lock, so a stolen
   * access token is no oracle for guessing the password.
   * @throws LoginLockedError, PolicyError (field 'current_password') for a wrong password, NotFoundError
   */
  async function reauthenticate (id: string, password: string): Promise<UserRecord> {
    const key = throttleKey({ id }, '')
    const slot = await throttle.attempt(key)
    try {
      const stored = await found(id)
      // A user created by social login has no password to confirm: the way to one is the reset
      // link sent to the account's address, never the access token alone (a thief would set one).
      if (stored.password_hash === null) throw new PolicyError('This account has no password: set one with POST /forgot-password (a link to its e-mail address), then use it here', 'current_password')
      if (!(await passwords.verify(stored.password_hash, password)).ok) {
        await slot.failed()
        throw new PolicyError('Current password is incorrect', 'current_password')
      }
      await throttle.succeeded(key)
      return stored
    } finally {
      await slot.release()
    }
  }

  /** A new account with a password (`/register`, the CLI, FIRST_SUPERUSER). @throws PolicyError, DuplicateUserError */
  async function register (input: UserCreate & { is_admin?: boolean, email_verified?: boolean, metadata?: Record<string, unknown> }, origin: UserOrigin = 'register', context?: EventContext): Promise<UserPublic> {
    const passwordHash = await hashNewPassword(input.password, input.username)
    return createUser({
      username: input.username,
      email: input.email ?? null,
      full_name: input.full_name ?? null,
      password_hash: passwordHash,
      is_admin: input.is_admin ?? false,
      email_verified: input.email_verified ?? false,
      metadata: input.metadata ?? null
    }, origin, context)
  }

  return {
    toPublic,
    register,
    createUser,
    setPassword,
    hashNewPassword,
    reauthenticate,

    /** Plugs in e-mail verification: the mail plugin does, once, at start. */
    useEmailVerification (plugged: EmailVerification): void {
      verification = plugged
    },

    /**
     * The admin account named `login` (FIRST_SUPERUSER: a username, or an e-mail address that
     * becomes both username and e-mail), created if missing; true if it was.
     * @throws PolicyError (field 'username' or 'password') for a name or password /register would refuse
     */
    async ensureAdmin (login: string, password: string): Promise<boolean> {
      const problem = loginNameProblem(login)
      if (problem !== undefined) throw new PolicyError(problem, 'username')
      if (await store.users.findByLogin(login) !== undefined) return false
      try {
        await register({ username: login, email: isEmailLogin(login) ? login : undefined, password, is_admin: true, email_verified: true }, 'first-superuser')
        return true
      } catch (error) {
        // Another instance starting at the same moment created it.
        if (await store.users.findByLogin(login) !== undefined) return false
        throw error
      }
    },

    /** A user by username or e-mail (ignoring case). @throws NotFoundError */
    async getByLogin (login: string): Promise<UserPublic> {
      const user = await store.users.findByLogin(login)
      if (user === undefined) throw new NotFoundError('User')
      return toPublic(user)
    },

    /** A user as `viewer` may see them: themself, or anyone with scope admin; else NotFoundError (no existence leak). */
    async getVisibleTo (viewer: Actor, id: string): Promise<UserPublic> {
      if (id !== viewer.id && !viewer.token_scopes.includes('admin')) throw new NotFoundError('User')
      return toPublic(await found(id))
    },

    /** A page of users, oldest first. */
    async list (limit: number, offset: number): Promise<{ items: UserPublic[], total: number }> {
      const { items, total } = await store.users.list(limit, offset)
      return { items: items.map(toPublic), total }
    },

    /** A stored user by id, or undefined (the recovery flows). */
    record: (id: string) => store.users.findById(id),

    /** Marks the user's address verified (a link sent to it was used): `email.verified`. @throws NotFoundError */
    async markEmailVerified (id: string, context: EventContext = {}): Promise<UserPublic> {
      const user = await events.within(tx => tx.users.update(id, { email_verified: true }),
        updated => updated === undefined ? undefined : { ...context, type: 'email.verified', user_id: id })
      if (user === undefined) throw new NotFoundError('User')
      return toPublic(user)
    },

    /**
     * The user's own profile fields. A new e-mail address needs the current password (a stolen
     * access token must not be enough to move the account's recovery elsewhere); an empty patch
     * changes nothing. @throws PolicyError, LoginLockedError, DuplicateUserError, NotFoundError
     */
    async updateProfile (id: string, patch: Pick<UserPatch, 'email' | 'full_name' | 'metadata'> & { current_password?: string }, context: EventContext = {}): Promise<UserPublic> {
      const { current_password: currentPassword, ...changes } = patch
      checkMetadataSize(changes.metadata)
      const before = await found(id)
      if (emailChanges(before.email, changes.email)) {
        if (currentPassword === undefined) throw new PolicyError('current_password is required to change the e-mail address', 'current_password')
        await reauthenticate(id, currentPassword)
      }
      if (Object.keys(changes).length === 0) return toPublic(before)
      return update(id, changes, before, { ...context, actor_id: id })
    },

    /**
     * An administrator's update; admins cannot disable or demote themselves.
     * @throws PolicyError, DuplicateUserError, NotFoundError
     */
    async updateByAdmin (actor: Actor, id: string, patch: Pick<UserPatch, 'email' | 'full_name' | 'disabled' | 'is_admin' | 'email_verified'>, context: EventContext = {}): Promise<UserPublic> {
      if (id === actor.id && (patch.disabled === true || patch.is_admin === false)) {
        throw new PolicyError('You cannot disable yourself or remove your own admin rights')
      }
      return update(id, patch, undefined, { ...context, actor_id: actor.id })
    },

    /** Disables (ending every session) or enables a user. @throws NotFoundError */
    setDisabled: (id: string, disabled: boolean) => update(id, { disabled }),

    /**
     * Imports users with the password hashes of another app (CONTRACT.md "Importing users"): the
     * contract's array, FastAPI's `fake_users_db` object or the full-stack template's rows, as
     * JSON text. Every row is checked first (format, names, hash, duplicates in the file and
     * against existing accounts); nothing is stored unless all are valid, and then all are, in one
     * batches that are undone if one fails (src/stores/sql-store.ts createMany). `dryRun` checks
     * without storing.
     */
    async importUsers (text: string, options: { dryRun?: boolean } = {}): Promise<ImportReport> {
      let data: unknown
      const structure = jsonStructureProblem(text)
      if (structure !== undefined) return { ok: false, errors: [{ row: 0, message: `the file's JSON: ${structure}` }] }
      try {
        data = JSON.parse(text)
      } catch (error) {
        return { ok: false, errors: [{ row: 0, message: `the file is not JSON: ${(error as Error).message}` }] }
      }
      const parsed = parseUserImport(data)
      if (!parsed.ok) return parsed
      const conflicts = await findExistingConflicts(parsed.rows, store.users.takenKeys)
      if (conflicts.length > 0) return { ok: false, errors: conflicts }
      const users = parsed.rows.map(row => ({
        username: row.username,
        email: row.email,
        full_name: row.full_name,
        password_hash: row.password_hash,
        disabled: row.disabled,
        is_admin: row.is_admin
      }))
      // The app's hook sees every row, as it sees every registration; a refusal names the row.
      const refused: ImportError[] = []
      for (const [i, row] of parsed.rows.entries()) {
        const user = users[i]!
        await runBeforeUserCreated(hooks, { username: user.username, email: user.email ?? null, full_name: user.full_name ?? null, metadata: undefined, origin: 'import' })
          .catch((error: Error) => { refused.push({ row: row.row, message: `refused: ${error.message}` }) })
      }
      if (refused.length > 0) return { ok: false, errors: refused }
      if (options.dryRun !== true) {
        const created = await store.users.createMany(users)
        // Stored in a write of their own after the import's batches (createMany commits batch by
        // batch and undoes them on failure: events in its transactions would outlive an undo).
        await events.record(created.map(user => ({ type: 'user.created', user_id: user.id, data: { origin: 'import', username: user.username } })))
      }
      return {
        ok: true,
        dryRun: options.dryRun === true,
        shape: parsed.shape,
        imported: options.dryRun === true ? 0 : users.length,
        rows: parsed.rows.map(row => ({ row: row.row, username: row.username, hash_format: row.hash_format }))
      }
    },

    /**
     * Lifts every limit on the account (an admin): the brute-force lock and the e-mail cooldowns.
     * True if failed logins were counted. @throws NotFoundError
     */
    async unlock (id: string): Promise<boolean> {
      await found(id)
      await verification?.clearLimits?.(id)
      return throttle.unlock(throttleKey({ id }, ''))
    },

    /** Deletes a user with their sessions and items; not oneself. @throws PolicyError, NotFoundError */
    async delete (actor: Actor, id: string, context: EventContext = {}): Promise<void> {
      if (id === actor.id) throw new PolicyError('You cannot delete yourself')
      const deleted = await events.within(tx => tx.users.delete(id), deleted => deleted ? { ...context, type: 'user.deleted', user_id: id, actor_id: actor.id } : undefined)
      if (!deleted) throw new NotFoundError('User')
    },

    /**
     * Changes a password after checking the current one (as a login, counted toward the lock), ends
     * every other session of the user (ASVS 7.4.3), makes outstanding reset links dead (the store)
     * and tells the account's address. @throws PolicyError for a wrong current password or a
     * refused new one, LoginLockedError
     */
    async changePassword (user: { id: string, username: string }, currentPassword: string, newPassword: string, keepSessionId: string, context: EventContext = {}): Promise<void> {
      const stored = await reauthenticate(user.id, currentPassword)
      const passwordHash = await hashNewPassword(newPassword, user.username)
      await setPassword(user.id, passwordHash, { reason: 'change', keepSessionId, context: { ...context, actor_id: user.id, session_id: keepSessionId } })
      if (stored.email !== null) await notify(stored.email, { kind: 'password-changed' })
    },

    /**
     * After a successful login with a hash that is not ours at the current parameters (imported,
     * or older): hashes the password anew and stores it, after the answer (nothing waits for it),
     * only if the stored hash is still the one that verified (a password changed meanwhile stays).
     */
    upgradePasswordHash (user: UserRecord, password: string): void {
      const current = user.password_hash
      if (current === null) return
      passwords.hash(password)
        .then(next => store.users.replacePasswordHash(user.id, current, next))
        .then(replaced => log.info({ event: 'password-rehash', userId: user.id, replaced, from: current.split('$')[1] }, 'password hash upgraded'),
          err => log.warn({ event: 'password-rehash', userId: user.id, err }, 'password hash upgrade failed; kept the old hash'))
    }
  }
}
export type AccountService = ReturnType<typeof createAccountService>
