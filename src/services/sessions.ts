import { TypeCompiler } from '@sinclair/typebox/compiler'
import { InvalidGrantError, InvalidScopeError, NotFoundError } from '../errors.js'
import { hashToken, identityKey, newId, newRefreshToken } from '../identifiers.js'
import { AccessTokenClaims, type TokenResponse } from '../schemas/token.js'
import type { SessionPublic } from '../schemas/session.js'
import type { AuthUser, UserRecord } from '../schemas/user.js'
import type { AuthStore, SessionRecord } from '../stores/auth-store.js'
import type { AccessTokenContent } from '../tokens/access-tokens.js'
import type { AccountService } from './accounts.js'
import { throttleKey, type LoginThrottle } from './login-throttle.js'
import type { ServiceLog } from './log.js'
import { hashProblem } from './hash-formats.js'
import type { PasswordHasher } from './passwords.js'
import { grantScopes, parseScope, type ScopeRegistry } from './scopes.js'

const claimsCheck = TypeCompiler.Compile(AccessTokenClaims)
/** last_used_at is written at most this often per session, so the per-request check stays a read. */
const TOUCH_INTERVAL_MS = 60_000

export interface SessionSettings {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  sessionIdleSeconds: number
  defaultClientId: string
  /** live sessions per user; a login beyond it ends the oldest (ASVS 7.1.2) */
  maxSessionsPerUser: number
}

/**
 * The rules of sessions and their tokens, free of Fastify: the password and refresh grants
 * (RFC 6749 §4.3, §6), the per-request check, revocation (RFC 7009), listing and ending sessions.
 * Throws InvalidGrantError, InvalidScopeError and NotFoundError (src/errors.ts).
 */
export function createSessionService (deps: {
  store: AuthStore
  passwords: PasswordHasher
  scopes: ScopeRegistry
  accounts: AccountService
  throttle: LoginThrottle
  log: ServiceLog
  settings: SessionSettings
  /** signs an access token (src/tokens/access-tokens.ts) */
  signAccessToken: (claims: AccessTokenContent) => string
  /** verifies an access token's signature and pinned claims; rejects when invalid */
  verifyAccessToken: (token: string) => Promise<unknown>
}) {
  const { store, passwords, scopes, accounts, throttle, log, settings, signAccessToken, verifyAccessToken } = deps

  /** Not ended, within its absolute lifetime, and used recently enough. */
  const isActive = (session: SessionRecord, now: number) =>
    session.ended_at === null &&
    session.expires_at > now &&
    session.last_used_at > now - settings.sessionIdleSeconds * 1000
  const isLive = (session: SessionRecord, user: UserRecord, now: number) => isActive(session, now) && !user.disabled

  function issueTokens (session: SessionRecord, user: UserRecord, granted: string[], refreshToken: string): TokenResponse {
    const scope = granted.join(' ')
    return {
      access_token: signAccessToken({ sub: user.id, jti: newId(), scope, sid: session.id, client_id: session.client_id }),
      token_type: 'bearer',
      expires_in: settings.accessTokenTtlSeconds,
      refresh_token: refreshToken,
      scope
    }
  }

  const end = (sessionId: string) => store.sessions.end(sessionId, Date.now())

  /**
   * After a successful login with a hash that is not ours at the current parameters (imported,
   * or older): hash the password anew and store it, after the answer (it does not wait), and only
   * if the stored hash is still the one that verified (a password changed meanwhile stays).
   */
  function upgradeHash (user: UserRecord, password: string) {
    passwords.hash(password)
      .then(next => store.users.replacePasswordHash(user.id, user.password_hash, next))
      .then(replaced => log.info({ event: 'password-rehash', userId: user.id, replaced, from: user.password_hash.split('$')[1] }, 'password hash upgraded'),
        err => log.warn({ event: 'password-rehash', userId: user.id, err }, 'password hash upgrade failed; kept the old hash'))
  }

  /** A page of the user's active sessions, newest first (the store pages; the filter holds for any store). */
  async function listActive (userId: string, page: { limit: number, offset: number }): Promise<SessionRecord[]> {
    const now = Date.now()
    const listing = { now, idleSince: now - settings.sessionIdleSeconds * 1000, ...page }
    return (await store.sessions.listForUser(userId, listing)).filter(s => isActive(s, now)).slice(0, page.limit)
  }

  return {
    /**
     * grant_type=password: checks the password and starts a session. An unknown user, a wrong
     * password and a disabled user fail alike; failures count toward the account's lock.
     * @throws InvalidGrantError, InvalidScopeError, LoginLockedError, OverloadedError
     */
    async passwordGrant (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string }): Promise<{ tokens: TokenResponse, user: UserRecord }> {
      const user = await store.users.findByLogin(input.username)
      const key = throttleKey(user, identityKey(input.username))
      await throttle.check(key)
      const { ok, rehash } = await passwords.verify(user?.password_hash, input.password)
      if (user === undefined || !ok) {
        await throttle.failed(key)
        throw new InvalidGrantError()
      }
      await throttle.succeeded(key)
      if (rehash) upgradeHash(user, input.password)
      if (user.disabled) throw new InvalidGrantError()
      if (!accounts.passwordLoginAllowed(user)) throw new InvalidGrantError() // REQUIRE_VERIFIED_EMAIL, after the password check
      const granted = grantScopes(parseScope(input.scope), scopes.allowedFor(user))
      if (granted === undefined) throw new InvalidScopeError('The requested scope is not available to this user')

      const now = Date.now()
      const session: SessionRecord = {
        id: newId(),
        user_id: user.id,
        scope: granted.join(' '),
        client_id: input.clientId ?? settings.defaultClientId,
        user_agent: input.userAgent?.slice(0, 512) ?? null,
        created_at: now,
        last_used_at: now,
        expires_at: now + settings.refreshTokenTtlSeconds * 1000,
        ended_at: null
      }
      const refreshToken = newRefreshToken()
      await store.sessions.create(session, hashToken(refreshToken), settings.maxSessionsPerUser)
      return { tokens: issueTokens(session, user, granted, refreshToken), user }
    },

    /**
     * grant_type=refresh_token: single use and rotated; a used token coming back ends its
     * session (RFC 9700 §4.14). @throws InvalidGrantError, InvalidScopeError
     */
    async refreshGrant (input: { refreshToken: string, scope?: string, clientId?: string }): Promise<{ tokens: TokenResponse, user: UserRecord }> {
      const successor = newRefreshToken()
      const now = Date.now()
      let granted: string[] = []
      // Checked inside the rotation: a refused request leaves the refresh token usable.
      const approve = (session: SessionRecord, user: UserRecord) => {
        if (!isLive(session, user, now)) throw new InvalidGrantError('refresh_token')
        // A client that names itself must be the one the session was issued to (RFC 6749 §6).
        if (input.clientId !== undefined && input.clientId !== session.client_id) throw new InvalidGrantError('refresh_token')
        const allowed = scopes.allowedFor(user)
        const available = parseScope(session.scope).filter(s => allowed.includes(s))
        const scopesGranted = grantScopes(parseScope(input.scope), available)
        if (scopesGranted === undefined) throw new InvalidScopeError('The requested scope exceeds the scope originally granted')
        granted = scopesGranted
      }
      const result = await store.sessions.rotateRefreshToken(hashToken(input.refreshToken), hashToken(successor), now, approve)
      if (result.status === 'reused') {
        await store.sessions.end(result.session.id, now)
        throw new InvalidGrantError('refresh_token')
      }
      if (result.status === 'unknown') throw new InvalidGrantError('refresh_token')
      return { tokens: issueTokens(result.session, result.user, granted, successor), user: result.user }
    },

    /**
     * The per-request check behind `authenticate`, after the signature: the claims' shape, then
     * the session and its user in one lookup. Undefined for anything that must be refused.
     */
    async authenticate (claims: unknown): Promise<AuthUser | undefined> {
      if (!claimsCheck.Check(claims)) return undefined
      const found = await store.sessions.findWithUser(claims.sid)
      const now = Date.now()
      if (found === undefined || found.session.user_id !== claims.sub || !isLive(found.session, found.user, now)) return undefined
      if (now - found.session.last_used_at > TOUCH_INTERVAL_MS) await store.sessions.touch(found.session.id, now)
      const user = accounts.toPublic(found.user)
      // A scope the user has since lost (an admin demoted) no longer counts.
      const tokenScopes = parseScope(claims.scope).filter(s => user.scopes.includes(s))
      // Properties added to the object toPublic made, not `{ ...user, token_scopes, … }`: that
      // spread made V8 build new hidden classes on every request, old-space garbage (BENCHMARKS.md, memory).
      return Object.assign(user, { token_scopes: tokenScopes, session_id: claims.sid, client_id: claims.client_id })
    },

    /**
     * RFC 7009: ends the session of a refresh or access token. Unknown, invalid or foreign
     * tokens are ignored (the caller answers 200 all the same); a forged JWT ends nothing.
     */
    async revoke (token: string, hint?: string): Promise<boolean> {
      const asRefresh = async () => {
        const session = await store.sessions.findByRefreshToken(hashToken(token))
        return session !== undefined && await end(session.id)
      }
      const asAccess = async () => {
        const claims = await verifyAccessToken(token).catch(() => undefined)
        return claimsCheck.Check(claims) && await end(claims.sid)
      }
      const looksLikeJwt = token.split('.').length === 3
      const order = hint === 'access_token' || (hint !== 'refresh_token' && looksLikeJwt) ? [asAccess, asRefresh] : [asRefresh, asAccess]
      for (const attempt of order) if (await attempt()) return true
      return false
    },

    /** Ends one session of this user (logout, or one row of their list). @throws NotFoundError */
    async end (userId: string, sessionId: string): Promise<void> {
      const found = await store.sessions.findWithUser(sessionId)
      if (found === undefined || found.session.user_id !== userId || !isActive(found.session, Date.now())) throw new NotFoundError('Session')
      await end(sessionId)
    },

    /** Ends a session by id (the command line, as an admin); false if it was not active. */
    endById: (sessionId: string) => end(sessionId),

    /** Ends every session of a user but `exceptSessionId`; the number ended. */
    endAll: (userId: string, exceptSessionId?: string) => store.sessions.endAllForUser(userId, Date.now(), exceptSessionId),

    /**
     * A page of the user's active sessions, newest first (default: the first 50; there are at most
     * maxSessionsPerUser); `current` marks `currentSessionId`'s.
     */
    async list (userId: string, currentSessionId?: string, page: { limit?: number, offset?: number } = {}): Promise<SessionPublic[]> {
      return (await listActive(userId, { limit: page.limit ?? 50, offset: page.offset ?? 0 })).map(s => ({
        id: s.id,
        created_at: new Date(s.created_at).toISOString(),
        last_used_at: new Date(s.last_used_at).toISOString(),
        user_agent: s.user_agent,
        current: s.id === currentSessionId
      }))
    },

    /**
     * The periodic clean-up (hourly, and at start): deletes sessions that ended or expired before
     * now and ended login-failure windows, and ends the imported hashes' timing floor once the last
     * of them was upgraded. Resolves the number of sessions deleted.
     */
    async purge () {
      await throttle.purge()
      // Hashes beyond the cost bound are never computed (hash-formats.ts): they keep no floor alive.
      if (passwords.load().floorMs > 0 && (await store.users.foreignHashSamples(passwords.nativePrefix)).every(sample => hashProblem(sample) !== undefined)) passwords.endFloor()
      return store.sessions.purge(Date.now())
    }
  }
}
export type SessionService = ReturnType<typeof createSessionService>
