import type { AuthEvents, EventContext } from '../core/events.js'
import { extraClaims, type AuthHooks } from '../core/hooks.js'
import { InvalidGrantError } from '../errors.js'
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
}

/**
 * One step between "password verified" and "session started". Throw to refuse (InvalidGrantError
 * answers as a wrong password would; a check that needs more from the client, such as a second
 * factor, throws its own error for the token endpoint to render). `name` shows in the logs.
 */
export interface LoginCheck {
  name: string
  check (attempt: LoginAttempt): unknown
}

/**
 * The login pipeline (issue 19), free of Fastify:
 *   verifyPassword (throttle, hash, disabled, rehash) → the login checks, in order → start the
 *   session → issueTokens (claims hook, signature).
 * Grants call the steps they need: the password grant all of them, the refresh grant the last.
 * Emits `login.succeeded` and `login.failed` (data.reason).
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

  const failed = (reason: string, userId: string | null, context: EventContext) => {
    events.emit({ ...context, type: 'login.failed', user_id: userId, data: { reason } })
    return new InvalidGrantError()
  }
  /** The request's side of a login's events. */
  const contextOf = (input: { clientId?: string, userAgent?: string, ip?: string }): EventContext =>
    ({ client_id: input.clientId ?? null, user_agent: input.userAgent ?? null, ip: input.ip ?? null })

  /**
   * Step 1: the user whose password this is. An unknown user, a wrong password and a disabled
   * user fail alike, in the same time; failures count toward the account's lock; a hash not ours
   * at the current parameters is upgraded after a success.
   * @throws InvalidGrantError, LoginLockedError, OverloadedError
   */
  async function verifyPassword (username: string, password: string, context: EventContext = {}): Promise<UserRecord> {
    // Text no account can have (NUL, lone surrogates): refused before any lookup or count.
    if (stringProblem(username) !== undefined) throw failed('invalid_credentials', null, context)
    const user = await store.users.findByLogin(username)
    const key = throttleKey(user, identityKey(username))
    try {
      await throttle.check(key)
    } catch (error) {
      events.emit({ ...context, type: 'login.failed', user_id: user?.id ?? null, data: { reason: 'locked' } })
      throw error
    }
    const { ok, rehash } = await passwords.verify(user?.password_hash, password)
    if (user === undefined || !ok) {
      await throttle.failed(key)
      throw failed('invalid_credentials', user?.id ?? null, context)
    }
    await throttle.succeeded(key)
    if (user.disabled) throw failed('disabled', user.id, context)
    if (rehash) accounts.upgradePasswordHash(user, password)
    return user
  }

  /** Step 4: the token response for a session just started or rotated (RFC 6749 §5.1). */
  async function issueTokens ({ session, user, granted, refreshToken }: IssuedSession): Promise<TokenResponse> {
    const scope = granted.join(' ')
    const extra = await extraClaims(hooks, { user: view(user), session: { id: session.id, client_id: session.client_id }, scopes: granted })
    const claims = { ...extra, sub: user.id, jti: newId(), scope, sid: session.id, client_id: session.client_id }
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
    async authenticate (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, form?: Record<string, string | undefined> }): Promise<UserRecord> {
      const context = contextOf(input)
      const user = await verifyPassword(input.username, input.password, context)
      const attempt: LoginAttempt = { user, form: input.form ?? {}, clientId: input.clientId, scope: input.scope }
      for (const { name, check } of checks) {
        try {
          await check(attempt)
        } catch (error) {
          events.emit({ ...context, type: 'login.failed', user_id: user.id, data: { reason: name } })
          throw error
        }
      }
      return user
    },

    /**
     * Steps 3 and 4 for a user who passed every check: the session, the token response, and
     * `login.succeeded` with `data.method` (`password`, `authorization_code`).
     * @throws InvalidScopeError
     */
    async startSession (user: UserRecord, input: { scope?: string, clientId?: string, userAgent?: string, ip?: string }, method: string): Promise<LoginResult> {
      const started = await sessions.start(user, input)
      const tokens = await issueTokens(started)
      events.emit({ ...contextOf(input), type: 'login.succeeded', user_id: user.id, session_id: started.session.id, client_id: started.session.client_id, data: { method } })
      return { tokens, user, session: started.session }
    },

    /**
     * The whole pipeline for a password: resolves the token response and the user.
     * @throws InvalidGrantError, InvalidScopeError, LoginLockedError, OverloadedError, a check's error
     */
    async passwordLogin (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string, ip?: string, form?: Record<string, string | undefined> }): Promise<LoginResult> {
      const user = await pipeline.authenticate(input)
      return await pipeline.startSession(user, input, 'password')
    },

    /**
     * grant_type=refresh_token: the rotation (or a replay within the reuse interval), then the
     * last step. @throws InvalidGrantError, InvalidScopeError
     */
    async refresh (input: { refreshToken: string, scope?: string, clientId?: string, userAgent?: string, ip?: string }): Promise<LoginResult> {
      const rotated = await sessions.rotate(input)
      const tokens = await issueTokens(rotated)
      events.emit({ ...contextOf(input), type: 'token.refreshed', user_id: rotated.user.id, session_id: rotated.session.id, client_id: rotated.session.client_id, ...(rotated.replayed ? { data: { replay: true } } : {}) })
      return { tokens, user: rotated.user, session: rotated.session }
    }
  }
  return pipeline
}
export type LoginPipeline = ReturnType<typeof createLoginPipeline>
