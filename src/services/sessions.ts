import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { AuthEvents, EventContext, EventInput } from '../core/events.js'
import { InvalidGrantError, InvalidScopeError, NotFoundError } from '../errors.js'
import { hashToken, newId, newRefreshToken, newRotationKey, successorRefreshToken } from '../identifiers.js'
import { AccessTokenClaims } from '../schemas/token.js'
import type { SessionPublic } from '../schemas/session.js'
import type { AuthUser, UserRecord } from '../schemas/user.js'
import type { AuthStore, SessionRecord } from '../stores/auth-store.js'
import type { LoginThrottle } from './login-throttle.js'
import { hashProblem } from './hash-formats.js'
import type { PasswordHasher } from './passwords.js'
import { grantScopes, parseScope, type ScopeRegistry } from './scopes.js'
import type { UserView } from './user-view.js'

const claimsCheck = TypeCompiler.Compile(AccessTokenClaims)

/** Freezes an object and every object or array within it (request.user and its lists). */
function deepFreeze<T extends object> (value: T): T {
  for (const inner of Object.values(value)) if (typeof inner === 'object' && inner !== null && !Object.isFrozen(inner)) deepFreeze(inner as object)
  return Object.freeze(value)
}
/** last_used_at is written at most this often per session, so the per-request check stays a read. */
const TOUCH_INTERVAL_MS = 60_000

/** Why sessions end (the `session.ended` event's `data.reason`). */
export type EndReason = 'logout' | 'revoked' | 'password' | 'admin' | 'disabled' | 'reused' | 'user' | 'mfa'

export interface SessionSettings {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  sessionIdleSeconds: number
  defaultClientId: string
  /** live sessions per user; a login beyond it ends the oldest (ASVS 7.1.2) */
  maxSessionsPerUser: number
  /** how long after its first use a refresh token may be presented again for the same successor (0: strict) */
  refreshReuseIntervalSeconds: number
  /** a secret outside the database that joins each session's rotation key (JWT_SECRET, when set) */
  rotationPepper?: string
}

/** A session just started or rotated: what the login pipeline's last step turns into tokens. */
export interface IssuedSession {
  session: SessionRecord
  user: UserRecord
  /** the scopes this token response grants */
  granted: string[]
  /** the new refresh token, in clear: only in the answer */
  refreshToken: string
}

/**
 * The rules of sessions, free of Fastify: starting one (with its first refresh token), rotating
 * refresh tokens (RFC 6749 §6, RFC 9700 §4.14), the per-request check, revocation (RFC 7009),
 * listing, and ending sessions — `end` is the one door that ends them, and emits `session.ended`.
 * Throws InvalidGrantError, InvalidScopeError and NotFoundError (src/errors.ts).
 */
export function createSessionService (deps: {
  store: AuthStore
  passwords: PasswordHasher
  scopes: ScopeRegistry
  view: UserView
  throttle: LoginThrottle
  events: AuthEvents
  settings: SessionSettings
  /** verifies an access token's signature and pinned claims; rejects when invalid */
  verifyAccessToken: (token: string) => Promise<unknown>
  /**
   * Ends the user's logins in progress (the authorization endpoint's requests waiting for consent
   * and its codes not yet redeemed): sessions to be, which ending all sessions ends too.
   */
  forgetPendingLogins?: (userId: string) => Promise<unknown>
}) {
  const { store, passwords, scopes, view, throttle, events, settings, verifyAccessToken, forgetPendingLogins } = deps

  /** Not ended, within its absolute lifetime, and used recently enough. */
  const isActive = (session: SessionRecord, now: number) =>
    session.ended_at === null &&
    session.expires_at > now &&
    session.last_used_at > now - settings.sessionIdleSeconds * 1000
  const isLive = (session: SessionRecord, user: UserRecord, now: number) => isActive(session, now) && !user.disabled

  /** request.user per looked-up session: the lookup's object (kept by the store's cache) to what was made of it. */
  const madeFrom = new WeakMap<object, AuthUser>()
  /** The `scope` claim each made user was made for. */
  const scopeClaim = new WeakMap<AuthUser, string>()
  /**
   * The authenticated user for these claims, or undefined when the session is not theirs or not
   * live. A scope the user has since lost (an admin demoted) no longer counts.
   */
  function checked (found: { session: SessionRecord, user: UserRecord } | undefined, claims: AccessTokenClaims, now: number): AuthUser | undefined {
    if (found === undefined || found.session.user_id !== claims.sub || !isLive(found.session, found.user, now)) return undefined
    const made = madeFrom.get(found)
    if (made !== undefined && made.client_id === claims.client_id && scopeClaim.get(made) === claims.scope) return made
    const user = view(found.user)
    // Properties added to the object the view made, not `{ ...user, token_scopes, … }`: that spread
    // made V8 build new hidden classes on every request, old-space garbage (BENCHMARKS.md, memory).
    const authenticated = deepFreeze(Object.assign(user, {
      token_scopes: parseScope(claims.scope).filter(s => user.scopes.includes(s)),
      session_id: claims.sid,
      client_id: claims.client_id
    }))
    madeFrom.set(found, authenticated)
    scopeClaim.set(authenticated, claims.scope)
    return authenticated
  }

  /**
   * The one door that ends sessions: one (`sessionId`), or every one of a user but `except`.
   * Emits `session.ended` (data.reason) for what it ended; resolves how many.
   */
  async function end (which: { sessionId: string, userId?: string } | { userId: string, except?: string }, reason: EndReason, context: EventContext = {}): Promise<number> {
    const now = Date.now()
    if ('sessionId' in which) {
      const ended = await events.within(tx => tx.sessions.end(which.sessionId, now),
        ended => ended ? { ...context, type: 'session.ended', user_id: which.userId ?? null, session_id: which.sessionId, data: { reason } } : undefined)
      return ended ? 1 : 0
    }
    // Logins in progress first: a code redeemed meanwhile then starts a session that the next line ends.
    await forgetPendingLogins?.(which.userId)
    return events.within(tx => tx.sessions.endAllForUser(which.userId, now, which.except),
      ended => ended > 0 ? { ...context, type: 'session.ended', user_id: which.userId, session_id: null, data: { reason, sessions: ended, ...(which.except === undefined ? {} : { kept: which.except }) } } : undefined)
  }

  /** A page of the user's active sessions, newest first (the store pages; the filter holds for any store). */
  async function listActive (userId: string, page: { limit: number, offset: number }): Promise<SessionRecord[]> {
    const now = Date.now()
    const listing = { now, idleSince: now - settings.sessionIdleSeconds * 1000, ...page }
    return (await store.sessions.listForUser(userId, listing)).filter(s => isActive(s, now)).slice(0, page.limit)
  }

  return {
    end,

    /**
     * Starts a session for a user whose login passed every check, with the scopes asked for (all
     * the user may have when none), and the login's authentication methods (`amr`, default ["pwd"]);
     * the oldest sessions beyond maxSessionsPerUser end. `event` (the login's, e.g.
     * `login.succeeded`) is stored in the session's transaction.
     * @throws InvalidScopeError
     */
    async start (user: UserRecord, input: { scope?: string, clientId?: string, userAgent?: string, amr?: string[] }, event?: (session: SessionRecord) => EventInput): Promise<IssuedSession> {
      const granted = grantScopes(parseScope(input.scope), scopes.allowedFor(user))
      if (granted === undefined) throw new InvalidScopeError('The requested scope is not available to this user')
      const now = Date.now()
      const session: SessionRecord = {
        id: newId(),
        user_id: user.id,
        scope: granted.join(' '),
        client_id: input.clientId ?? settings.defaultClientId,
        // By code points: a cut inside a surrogate pair would store U+FFFD on PostgreSQL.
        user_agent: input.userAgent === undefined ? null : [...input.userAgent].slice(0, 512).join(''),
        created_at: now,
        last_used_at: now,
        expires_at: now + settings.refreshTokenTtlSeconds * 1000,
        ended_at: null,
        rotation_key: newRotationKey(),
        // The login's methods (issue 21), kept for every refresh of the session.
        amr: JSON.stringify(input.amr ?? ['pwd'])
      }
      const refreshToken = newRefreshToken()
      await events.within(tx => tx.sessions.create(session, hashToken(refreshToken), settings.maxSessionsPerUser), () => event?.(session))
      return { session, user, granted, refreshToken }
    },

    /**
     * grant_type=refresh_token: single use and rotated; a used token coming back ends its
     * session (RFC 9700 §4.14), unless it comes back within the reuse interval of its first use,
     * for the same client and no wider scope, while its successor is unused: then it gets that
     * same successor again (CONTRACT "Concurrent refresh": tabs refreshing at once converge).
     * Resolves the session with its successor token; the login pipeline issues the tokens.
     * `token.refreshed` is stored in the rotation's transaction (a replay with `data.replay`), with
     * `context` (the request's address and user agent).
     * @throws InvalidGrantError (`sessionEnded` when the session is over), InvalidScopeError
     */
    async rotate (input: { refreshToken: string, scope?: string, clientId?: string, admitClient?: (sessionClientId: string) => Promise<void> }, context: EventContext = {}): Promise<IssuedSession & { replayed: boolean }> {
      const presented = hashToken(input.refreshToken)
      // The successor is derived from the token with the session's key: one more indexed read.
      const owner = await store.sessions.findByRefreshToken(presented)
      if (owner === undefined) throw new InvalidGrantError('refresh_token', true)
      // The client the token was issued to, whatever the request names (or omits), before anything changes.
      await input.admitClient?.(owner.client_id)
      const successor = owner.rotation_key == null ? newRefreshToken() : successorRefreshToken(owner.rotation_key, input.refreshToken, settings.rotationPepper)
      const now = Date.now()
      let granted: string[] = []
      /** The scopes this request may have, from those `available`; throws to refuse. */
      const approveWithin = (session: SessionRecord, user: UserRecord, available: string[], wider: () => Error) => {
        if (!isLive(session, user, now)) throw new InvalidGrantError('refresh_token', true)
        // A client that names itself must be the one the session was issued to (RFC 6749 §6).
        if (input.clientId !== undefined && input.clientId !== session.client_id) throw new InvalidGrantError('refresh_token')
        const allowed = scopes.allowedFor(user)
        const scopesGranted = grantScopes(parseScope(input.scope), available.filter(s => allowed.includes(s)))
        if (scopesGranted === undefined) throw wider()
        granted = scopesGranted
        return granted.join(' ')
      }
      // Checked inside the rotation: a refused request leaves the refresh token usable.
      const approve = (session: SessionRecord, user: UserRecord) => approveWithin(session, user, parseScope(session.scope),
        () => new InvalidScopeError('The requested scope exceeds the scope originally granted'))
      const reuse = settings.refreshReuseIntervalSeconds > 0 && owner.rotation_key != null
        ? {
            since: now - settings.refreshReuseIntervalSeconds * 1000,
            // A replay may ask no more than the first use was granted; more is refused, nothing ends.
            approve: (session: SessionRecord, user: UserRecord, usedScope: string | null) => {
              approveWithin(session, user, parseScope(usedScope ?? session.scope), () => new InvalidGrantError('refresh_token'))
            }
          }
        : undefined
      const result = await events.within(tx => tx.sessions.rotateRefreshToken(presented, hashToken(successor), now, approve, reuse),
        result => result.status === 'rotated' || result.status === 'replayed'
          ? { ...context, type: 'token.refreshed', user_id: result.user.id, session_id: result.session.id, client_id: result.session.client_id, ...(result.status === 'replayed' ? { data: { replay: true } } : {}) }
          : undefined)
      if (result.status === 'reused') {
        await end({ sessionId: result.session.id, userId: result.session.user_id }, 'reused')
        await events.record({ ...context, type: 'refresh.reused', user_id: result.session.user_id, session_id: result.session.id, client_id: result.session.client_id })
        throw new InvalidGrantError('refresh_token', true)
      }
      if (result.status === 'unknown') throw new InvalidGrantError('refresh_token', true)
      return { session: result.session, user: result.user, granted, refreshToken: successor, replayed: result.status === 'replayed' }
    },

    /**
     * The per-request check behind `authenticate`, after the signature: the claims' shape, then
     * the session and its user in one lookup. Undefined for anything that must be refused.
     */
    async authenticate (claims: unknown): Promise<AuthUser | undefined> {
      return await this.authenticateNow(claims)
    },

    /**
     * `authenticate` without a promise when it can: at once when the store has the session in
     * memory, exact (`cachedWithUser`) and no `last_used_at` write is due; else a promise.
     * The user is made once per cached lookup and token scope, and frozen: one request cannot
     * change what the next one sees.
     */
    authenticateNow (claims: unknown): AuthUser | undefined | Promise<AuthUser | undefined> {
      if (!claimsCheck.Check(claims)) return undefined
      const now = Date.now()
      const cached = store.sessions.cachedWithUser?.(claims.sid)
      if (cached !== undefined && now - cached.session.last_used_at <= TOUCH_INTERVAL_MS) return checked(cached, claims, now)
      return store.sessions.findWithUser(claims.sid).then(async found => {
        const user = checked(found, claims, now)
        if (user !== undefined && found !== undefined && now - found.session.last_used_at > TOUCH_INTERVAL_MS) await store.sessions.touch(found.session.id, now)
        return user
      })
    },

    /**
     * RFC 7009: ends the session of a refresh or access token. Unknown, invalid or foreign
     * tokens are ignored (the caller answers 200 all the same); a forged JWT ends nothing, and
     * neither does a token issued to another client than `clientId`, when the request names one
     * (RFC 7009 §2.1; found from outside: a foreign client could log the user out).
     */
    async revoke (token: string, hint?: string, clientId?: string, context: EventContext = {}): Promise<boolean> {
      const ours = (sessionClient: unknown) => clientId === undefined || clientId === sessionClient
      // The request's address and user agent; the client is the session's (the one that may revoke it).
      const withClient = (sessionClient: string | null | undefined): EventContext => ({ ...context, client_id: context.client_id ?? sessionClient ?? null })
      const asRefresh = async () => {
        const session = await store.sessions.findByRefreshToken(hashToken(token))
        return session !== undefined && ours(session.client_id) && await end({ sessionId: session.id, userId: session.user_id }, 'revoked', withClient(session.client_id)) > 0
      }
      const asAccess = async () => {
        const claims = await verifyAccessToken(token).catch(() => undefined)
        return claimsCheck.Check(claims) && ours(claims.client_id) && await end({ sessionId: claims.sid, userId: claims.sub }, 'revoked', withClient(claims.client_id)) > 0
      }
      const looksLikeJwt = token.split('.').length === 3
      const order = hint === 'access_token' || (hint !== 'refresh_token' && looksLikeJwt) ? [asAccess, asRefresh] : [asRefresh, asAccess]
      for (const attempt of order) if (await attempt()) return true
      return false
    },

    /** Ends one session of this user (logout, or one row of their list). @throws NotFoundError */
    async endOwn (userId: string, sessionId: string, reason: EndReason = 'user', context: EventContext = {}): Promise<void> {
      const found = await store.sessions.findWithUser(sessionId)
      if (found === undefined || found.session.user_id !== userId || !isActive(found.session, Date.now())) throw new NotFoundError('Session')
      await end({ sessionId, userId }, reason, context)
    },

    /** Ends a session by id (the command line, as an admin); false if it was not active. */
    endById: async (sessionId: string) => await end({ sessionId }, 'admin') > 0,

    /** Ends every session of a user but `exceptSessionId`; the number ended. `context`: who and where, for `session.ended`. */
    endAll: (userId: string, exceptSessionId?: string, reason: EndReason = 'user', context: EventContext = {}) => end({ userId, except: exceptSessionId }, reason, context),

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
