import type { AuthEvents, EventContext } from '../core/events.js'
import { extraClaims, type AuthHooks } from '../core/hooks.js'
import { InvalidGrantError, LoginLockedError, MfaRequiredError } from '../errors.js'
import { identityKey, newId } from '../identifiers.js'
import type { TokenResponse } from '../schemas/token.js'
import type { UserRecord } from '../schemas/user.js'
import { stringProblem } from '../text.js'
import type { AuthStore, SessionRecord } from '../stores/auth-store.js'
import type { AccessTokenContent } from '../tokens/access-tokens.js'
import type { AccountService } from './accounts.js'
import { throttleKey, type LoginThrottle } from './login-throttle.js'
import type { PasswordHasher } from './passwords.js'
import type { IssuedSession, SessionService } from './sessions.js'
import type { UserView } from './user-view.js'

/** What a login or a refresh resolves: the token response, its user and its session. */
/** A user who passed the password and every login check, and the methods the login proved (RFC 8176 `amr`). */
export interface Authenticated {
  user: UserRecord
  amr: string[]
}

export interface LoginResult {
  tokens: TokenResponse
  user: UserRecord
  session: SessionRecord
}

/** What a login check sees: the user whose password was just verified, and the request's form. */
export interface LoginAttempt {
  user: UserRecord
  /** the token request's parameters (a second factor's check reads its own, e.g. `otp`) */
  form: Readonly<Record<string, string | undefined>>
  clientId: string | undefined
  scope: string | undefined
  /**
   * The authentication methods so far (RFC 8176 values: `pwd`); a second factor's check that
   * accepted a code adds its own (`otp`). The session keeps them; access tokens carry them as `amr`.
   */
  amr: string[]
  /** the request's side of the events (client address, user agent) */
  context: EventContext
}

/**
 * One step between "password verified" and "session started". Throw to refuse (InvalidGrantError
 * answers as a wrong password would; a check that needs more from the client, such as a second
 * factor, throws its own error for the token endpoint to render). `name` shows in the logs.
 */
export interface LoginCheck {
  name: string
  check (attempt: LoginAttempt): unknown
  /**
   * A second factor (issue 21): runs after every other check, and is not run again when its own
   * grant finishes the login (`finishSecondFactor`). Its refusals (MfaRequiredError, a wrong code)
   * keep the account's failed-login count: a correct password does not clear wrong codes.
   */
  secondFactor?: boolean
}

/** The authentication methods a session stored (JSON text), as an array; ["pwd"] for sessions from before. */
export function parseAmr (stored: string | null | undefined): string[] {
  if (stored == null) return ['pwd']
  try {
    const value: unknown = JSON.parse(stored)
    return Array.isArray(value) && value.every(v => typeof v === 'string') ? value as string[] : ['pwd']
  } catch {
    return ['pwd']
  }
}

/** Refusals of a second factor: they do not clear the account's failed-login count. */
const keepsFailures = (error: unknown) => error instanceof MfaRequiredError || (error instanceof InvalidGrantError && error.grant === 'mfa')

/**
 * The login pipeline (issue 19), free of Fastify:
 *   verifyPassword (throttle, hash, disabled, rehash) → the login checks, in order, second
 *   factors last → start the session (with `amr`) → issueTokens (claims hook, signature).
 * Grants call the steps they need: the password grant all of them, the refresh grant the last,
 * the two-factor grants `finishSecondFactor` (issue 21). Emits `login.succeeded` and
 * `login.failed` (data.reason).
 */
export function createLoginPipeline (deps: {
  store: AuthStore
  passwords: PasswordHasher
  throttle: LoginThrottle
  accounts: AccountService
  sessions: SessionService
  view: UserView
  events: AuthEvents
  hooks: AuthHooks
  settings: { accessTokenTtlSeconds: number }
  /** signs an access token (src/tokens/access-tokens.ts) */
  sign: (claims: AccessTokenContent & Record<string, unknown>) => string
}) {
  const { store, passwords, throttle, accounts, sessions, view, events, hooks, settings, sign } = deps
  const checks: LoginCheck[] = []

  /**
   * Stores `login.failed` (in a write of its own: the failure count may live in Redis) and makes
   * the error. Without the name tried: people type their password into the username field.
   */
  const failed = async (reason: string, userId: string | null, context: EventContext) => {
    await events.record({ ...context, type: 'login.failed', user_id: userId, data: { reason } })
    return new InvalidGrantError()
  }
  /** The request's side of a login's events. */
  const contextOf = (input: { clientId?: string, userAgent?: string, ip?: string }): EventContext =>
    ({ client_id: input.clientId ?? null, user_agent: input.userAgent ?? null, ip: input.ip ?? null })

  /**
   * Step 1's check: the user, their throttle key and the check slot the attempt holds (released by
   * the caller once the whole login is decided, so that a burst cannot check more codes than the
   * lock allows), when the password is right (the count not cleared yet).
   */
  async function checkPassword (username: string, password: string, context: EventContext): Promise<{ user: UserRecord, key: string, rehash: boolean, release: () => Promise<void> }> {
    // Text no account can have (NUL, lone surrogates): refused before any lookup or count.
    if (stringProblem(username) !== undefined) throw await failed('invalid_credentials', null, context)
    const user = await store.users.findByLogin(username)
    const key = throttleKey(user, identityKey(username))
    let slot: Awaited<ReturnType<LoginThrottle['attempt']>>
    try {
      slot = await throttle.attempt(key)
    } catch (error) {
      await events.record({ ...context, type: 'login.failed', user_id: user?.id ?? null, data: { reason: error instanceof LoginLockedError ? 'locked' : 'busy' } })
      throw error
    }
    try {
      // A user without a password (social login: null) is verified against the dummy hash, as an
      // unknown user is: the same answer in the same time as a wrong password.
      const { ok, rehash } = await passwords.verify(user?.password_hash ?? undefined, password)
      if (user === undefined || !ok) {
        await slot.failed()
        throw await failed('invalid_credentials', user?.id ?? null, context)
      }
      return { user, key, rehash, release: slot.release }
    } catch (error) {
      await slot.release()
      throw error
    }
  }

  /** After a correct password: a disabled user fails as a wrong password would; an old hash is upgraded. */
  async function admit (user: UserRecord, password: string, rehash: boolean, context: EventContext): Promise<UserRecord> {
    if (user.disabled) throw await failed('disabled', user.id, context)
    if (rehash) accounts.upgradePasswordHash(user, password)
    return user
  }

  /**
   * Step 1: the user whose password this is. An unknown user, a wrong password and a disabled
   * user fail alike, in the same time; failures count toward the account's lock; a hash not ours
   * at the current parameters is upgraded after a success.
   * @throws InvalidGrantError, LoginLockedError, OverloadedError
   */
  async function verifyPassword (username: string, password: string, context: EventContext = {}): Promise<UserRecord> {
    const { user, key, rehash, release } = await checkPassword(username, password, context)
    try {
      await throttle.succeeded(key)
      return await admit(user, password, rehash, context)
    } finally {
      await release()
    }
  }

  /** Runs the login checks (second factors last, or not at all); emits login.failed for a refusal. */
  async function runChecks (attempt: LoginAttempt, secondFactors: boolean): Promise<void> {
    const ordered = [...checks.filter(c => c.secondFactor !== true), ...(secondFactors ? checks.filter(c => c.secondFactor === true) : [])]
    for (const { name, check } of ordered) {
      try {
        await check(attempt)
      } catch (error) {
        // A challenge is no failure: the second factor's check emits mfa.challenged.
        if (!(error instanceof MfaRequiredError)) await events.record({ ...attempt.context, type: 'login.failed', user_id: attempt.user.id, data: { reason: name } })
        throw error
      }
    }
  }

  /** Step 4: the token response for a session just started or rotated (RFC 6749 §5.1). */
  async function issueTokens ({ session, user, granted, refreshToken }: IssuedSession): Promise<TokenResponse> {
    const scope = granted.join(' ')
    const extra = await extraClaims(hooks, { user: view(user), session: { id: session.id, client_id: session.client_id }, scopes: granted })
    const claims = { ...extra, sub: user.id, jti: newId(), scope, sid: session.id, client_id: session.client_id, amr: parseAmr(session.amr) }
    return {
      access_token: sign(claims),
      token_type: 'bearer',
      expires_in: settings.accessTokenTtlSeconds,
      refresh_token: refreshToken,
      scope
    }
  }

  const pipeline = {
    verifyPassword,
    issueTokens,

    /** Adds a check after the built-in ones (REQUIRE_VERIFIED_EMAIL is the mail plugin's, a second factor the next). */
    addCheck (check: LoginCheck): void {
      checks.push(check)
    },

    /** The names of the checks, in order. */
    checks: () => checks.map(check => check.name),

    /**
     * Steps 1 and 2: the password, then every login check, without starting a session (the
     * authorization endpoint's login page runs these, and the session starts when its code is
     * redeemed). `form` is what a check reads (a second factor's `otp`).
     * @throws InvalidGrantError, LoginLockedError, OverloadedError, a check's error
     */
    async authenticate (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, form?: Record<string, string | undefined> }): Promise<Authenticated> {
      const context = contextOf(input)
      const { user, key, rehash, release } = await checkPassword(input.username, input.password, context)
      // The count is cleared once the password is right, unless a second factor is still owed
      // (then its wrong codes and this password's success must not cancel each other out).
      let keep = false
      const attempt: LoginAttempt = { user, form: input.form ?? {}, clientId: input.clientId, scope: input.scope, amr: ['pwd'], context }
      try {
        await admit(user, input.password, rehash, context)
        await runChecks(attempt, true)
      } catch (error) {
        keep = keepsFailures(error)
        throw error
      } finally {
        if (!keep) await throttle.succeeded(key)
        await release()
      }
      return { user, amr: attempt.amr }
    },

    /**
     * Step 2 for a user authenticated elsewhere (social login, issue 23), without a password: a
     * disabled user refused as the password step refuses one, then every login check, second
     * factors included: a user with TOTP gets MfaRequiredError, whose challenge keeps `amr`.
     * @throws InvalidGrantError, MfaRequiredError, a check's error
     */
    async admitExternal (input: { user: UserRecord, amr: string[], scope?: string, clientId?: string, userAgent?: string, ip?: string }): Promise<void> {
      const context = contextOf(input)
      if (input.user.disabled) throw await failed('disabled', input.user.id, context)
      await runChecks({ user: input.user, form: {}, clientId: input.clientId, scope: input.scope, amr: [...input.amr], context }, true)
    },

    /**
     * Steps 3 and 4 for a user who passed every check: the session (with `amr`: the methods the
     * login proved, `["pwd"]` when not given), the token response, and `login.succeeded` with
     * `data.method` (`password`, `authorization_code`) and `data.amr`, stored in the transaction
     * that starts the session.
     * @throws InvalidScopeError
     */
    async startSession (user: UserRecord, input: { scope?: string, clientId?: string, userAgent?: string, ip?: string, amr?: string[] }, method: string): Promise<LoginResult> {
      const context = contextOf(input)
      const amr = input.amr ?? ['pwd']
      const started = await sessions.start(user, { ...input, amr }, session => ({ ...context, type: 'login.succeeded', user_id: user.id, session_id: session.id, client_id: session.client_id, data: { method, amr } }))
      const tokens = await issueTokens(started)
      return { tokens, user, session: started.session }
    },

    /**
     * A login whose second factor was just proven, without starting a session (the authorization
     * endpoint's code step): the user as stored now (disabled meanwhile: refused), the other checks
     * again with `amr`.
     * @throws InvalidGrantError ('mfa'), a check's error
     */
    async authenticateSecondFactor (input: { userId: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, amr: string[] }): Promise<Authenticated> {
      const context = contextOf(input)
      const user = await store.users.findById(input.userId)
      if (user === undefined || user.disabled) {
        await events.record({ ...context, type: 'login.failed', user_id: input.userId, data: { reason: user === undefined ? 'deleted' : 'disabled' } })
        throw new InvalidGrantError('mfa')
      }
      try {
        await runChecks({ user, form: {}, clientId: input.clientId, scope: input.scope, amr: input.amr, context }, false)
      } catch (error) {
        // One message per grant: a check's refusal reads as the two-factor grants' invalid_grant.
        throw error instanceof InvalidGrantError ? new InvalidGrantError('mfa') : error
      }
      return { user, amr: input.amr }
    },

    /**
     * Finishes a login whose second factor was just proven (the two-factor grants):
     * authenticateSecondFactor, then the session with `amr`.
     * @throws InvalidGrantError ('mfa'), InvalidScopeError, a check's error
     */
    async finishSecondFactor (input: { userId: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, amr: string[], method: string }): Promise<LoginResult> {
      const { user, amr } = await pipeline.authenticateSecondFactor(input)
      return await pipeline.startSession(user, { ...input, amr }, input.method)
    },

    /**
     * The whole pipeline for a password: resolves the token response and the user.
     * @throws InvalidGrantError, InvalidScopeError, LoginLockedError, OverloadedError, a check's error
     */
    async passwordLogin (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, form?: Record<string, string | undefined> }): Promise<LoginResult> {
      const { user, amr } = await pipeline.authenticate(input)
      return await pipeline.startSession(user, { ...input, amr }, 'password')
    },

    /**
     * grant_type=refresh_token: the rotation (or a replay within the reuse interval), then the
     * last step. `token.refreshed` is stored with the rotation. @throws InvalidGrantError, InvalidScopeError
     */
    async refresh (input: { refreshToken: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, admitClient?: (sessionClientId: string) => Promise<void> }): Promise<LoginResult> {
      const rotated = await sessions.rotate(input, contextOf(input))
      const tokens = await issueTokens(rotated)
      return { tokens, user: rotated.user, session: rotated.session }
    }
  }
  return pipeline
}
export type LoginPipeline = ReturnType<typeof createLoginPipeline>
