import { TypeCompiler } from '@sinclair/typebox/compiler'
import { BadRequestError, ConflictError, invalidGrant, OAuthError } from '../errors.js'
import { AccessTokenClaims, type TokenResponse } from '../schemas/token.js'
import type { AuthUser, UserCreate, UserPublic, UserRecord } from '../schemas/user.js'
import { hashToken, newId, newRefreshToken } from './identifiers.js'
import { passwordPolicyViolation, type PasswordHasher } from './passwords.js'
import { allowedScopes, grantScopes, parseScope } from './scopes.js'
import { DuplicateUserError, type AuthStore, type SessionRecord, type UserPatch } from './store.js'

export interface AuthSettings {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  sessionIdleSeconds: number
  defaultClientId: string
  passwordMinLength: number
}

/** Signs access-token claims; the auth plugin passes @fastify/jwt's signer. */
export type SignAccessToken = (claims: Omit<AccessTokenClaims, 'iss' | 'aud' | 'exp' | 'iat'>) => string

const claimsCheck = TypeCompiler.Compile(AccessTokenClaims)
/** last_used_at is written at most this often per session, so the per-request check stays a read. */
const TOUCH_INTERVAL_MS = 60_000

export const toPublicUser = (user: UserRecord): UserPublic => ({
  id: user.id,
  username: user.username,
  email: user.email,
  full_name: user.full_name,
  disabled: user.disabled,
  is_admin: user.is_admin,
  scopes: allowedScopes(user),
  created_at: user.created_at
})

/**
 * The rules of accounts, sessions and tokens, free of Fastify: what the routes and the
 * authenticate hook call. Storage and signing come in as dependencies.
 */
export function createAuthService (deps: {
  store: AuthStore
  settings: AuthSettings
  passwords: PasswordHasher
  sign: SignAccessToken
  /** verifies an access token's signature and pinned claims; throws when invalid */
  verifyAccessToken: (token: string) => Promise<unknown>
}) {
  const { store, settings, passwords, sign, verifyAccessToken } = deps

  /** Not ended, within its absolute lifetime, and used recently enough. */
  const sessionIsActive = (session: SessionRecord, now: number) =>
    session.ended_at === null &&
    session.expires_at > now &&
    session.last_used_at > now - settings.sessionIdleSeconds * 1000
  const sessionIsLive = (session: SessionRecord, user: UserRecord, now: number) =>
    sessionIsActive(session, now) && !user.disabled

  function issueTokens (session: SessionRecord, user: UserRecord, scopes: string[], refreshToken: string): TokenResponse {
    const scope = scopes.join(' ')
    const accessToken = sign({ sub: user.id, jti: newId(), scope, sid: session.id, client_id: session.client_id })
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: settings.accessTokenTtlSeconds,
      refresh_token: refreshToken,
      scope
    }
  }

  async function checkNewPassword (password: string, username: string) {
    const violation = passwordPolicyViolation(password, settings.passwordMinLength, username)
    if (violation !== undefined) throw new BadRequestError(violation)
    return passwords.hash(password)
  }

  const conflict = (error: unknown) => error instanceof DuplicateUserError
    ? new ConflictError(`${error.field === 'email' ? 'E-mail' : 'Username'} already registered`)
    : error

  async function register (input: UserCreate & { is_admin?: boolean }): Promise<UserRecord> {
    const passwordHash = await checkNewPassword(input.password, input.username)
    try {
      return await store.users.create({
        username: input.username,
        email: input.email ?? null,
        full_name: input.full_name ?? null,
        password_hash: passwordHash,
        is_admin: input.is_admin ?? false
      })
    } catch (error) {
      throw conflict(error)
    }
  }

  return {
    register,

    /** Updates a user; undefined if there is none, 409 when the e-mail is taken (ignoring case). */
    async updateUser (id: string, patch: UserPatch): Promise<UserRecord | undefined> {
      try {
        return await store.users.update(id, patch)
      } catch (error) {
        throw conflict(error)
      }
    },

    /** Creates the admin account if no account has this name (FIRST_SUPERUSER); true if it did. */
    async ensureAdmin (username: string, password: string): Promise<boolean> {
      if (await store.users.findByLogin(username) !== undefined) return false
      try {
        await register({ username, password, is_admin: true })
        return true
      } catch (error) {
        // Another instance starting at the same moment created it.
        if (error instanceof ConflictError) return false
        throw error
      }
    },

    /** grant_type=password: starts a session. Unknown user, wrong password and disabled user fail alike. */
    async passwordGrant (input: { username: string, password: string, scope?: string, clientId?: string, userAgent?: string }): Promise<{ tokens: TokenResponse, user: UserRecord }> {
      const user = await store.users.findByLogin(input.username)
      const passwordOk = await passwords.verify(user?.password_hash, input.password)
      if (user === undefined || !passwordOk || user.disabled) throw invalidGrant()
      const scopes = grantScopes(parseScope(input.scope), allowedScopes(user))
      if (scopes === undefined) throw new OAuthError('invalid_scope', 'The requested scope is not available to this user')

      const now = Date.now()
      const session: SessionRecord = {
        id: newId(),
        user_id: user.id,
        scope: scopes.join(' '),
        client_id: input.clientId ?? settings.defaultClientId,
        user_agent: input.userAgent?.slice(0, 512) ?? null,
        created_at: now,
        last_used_at: now,
        expires_at: now + settings.refreshTokenTtlSeconds * 1000,
        ended_at: null
      }
      const refreshToken = newRefreshToken()
      await store.sessions.create(session, hashToken(refreshToken))
      return { tokens: issueTokens(session, user, scopes, refreshToken), user }
    },

    /** grant_type=refresh_token: single use and rotated; a used token coming back ends its session. */
    async refreshGrant (input: { refreshToken: string, scope?: string, clientId?: string }): Promise<{ tokens: TokenResponse, user: UserRecord }> {
      const successor = newRefreshToken()
      const now = Date.now()
      let scopes: string[] = []
      // Checked inside the rotation: a refused request leaves the refresh token usable.
      const approve = (session: SessionRecord, user: UserRecord) => {
        if (!sessionIsLive(session, user, now)) throw invalidGrant()
        // A client that names itself must be the one the session was issued to (RFC 6749 §6).
        if (input.clientId !== undefined && input.clientId !== session.client_id) throw invalidGrant()
        const available = parseScope(session.scope).filter(s => (allowedScopes(user) as string[]).includes(s))
        const granted = grantScopes(parseScope(input.scope), available)
        if (granted === undefined) throw new OAuthError('invalid_scope', 'The requested scope exceeds the scope originally granted')
        scopes = granted
      }
      const result = await store.sessions.rotateRefreshToken(hashToken(input.refreshToken), hashToken(successor), now, approve)
      if (result.status === 'reused') {
        await store.sessions.end(result.session.id, now)
        throw invalidGrant()
      }
      if (result.status === 'unknown') throw invalidGrant()
      return { tokens: issueTokens(result.session, result.user, scopes, successor), user: result.user }
    },

    /**
     * The per-request check behind `authenticate`: the claims' shape, then the session and
     * its user in one lookup. Returns undefined for anything that must be refused.
     */
    async authenticate (payload: unknown): Promise<AuthUser | undefined> {
      if (!claimsCheck.Check(payload)) return undefined
      const found = await store.sessions.findWithUser(payload.sid)
      const now = Date.now()
      if (found === undefined || found.session.user_id !== payload.sub || !sessionIsLive(found.session, found.user, now)) return undefined
      if (now - found.session.last_used_at > TOUCH_INTERVAL_MS) await store.sessions.touch(found.session.id, now)
      const user = toPublicUser(found.user)
      // A scope the user has since lost (an admin demoted) no longer counts.
      const tokenScopes = parseScope(payload.scope).filter(s => (user.scopes as string[]).includes(s))
      // Properties added to the object toPublicUser made, not `{ ...user, token_scopes, … }`: that
      // spread made V8 build new hidden classes on every request, old-space garbage (BENCHMARKS.md, memory).
      return Object.assign(user, { token_scopes: tokenScopes, session_id: payload.sid, client_id: payload.client_id })
    },

    /** Verifies a password for an account change; same cost as a login. */
    async checkPassword (userId: string, password: string): Promise<boolean> {
      const user = await store.users.findById(userId)
      return passwords.verify(user?.password_hash, password)
    },

    async changePassword (user: { id: string, username: string }, newPassword: string, keepSessionId: string) {
      const passwordHash = await checkNewPassword(newPassword, user.username)
      await store.users.update(user.id, { password_hash: passwordHash })
      await store.sessions.endAllForUser(user.id, Date.now(), keepSessionId)
    },

    /**
     * RFC 7009: ends the session of a refresh or access token. Unknown, invalid or foreign
     * tokens are ignored (the caller answers 200 all the same); a forged JWT ends nothing.
     */
    async revoke (token: string, hint?: string): Promise<boolean> {
      const asRefresh = async () => {
        const session = await store.sessions.findByRefreshToken(hashToken(token))
        return session !== undefined && await store.sessions.end(session.id, Date.now())
      }
      const asAccess = async () => {
        const claims = await verifyAccessToken(token).catch(() => undefined)
        return claimsCheck.Check(claims) && await store.sessions.end(claims.sid, Date.now())
      }
      const looksLikeJwt = token.split('.').length === 3
      const order = hint === 'access_token' || (hint !== 'refresh_token' && looksLikeJwt) ? [asAccess, asRefresh] : [asRefresh, asAccess]
      for (const attempt of order) if (await attempt()) return true
      return false
    },
    endSession: (sessionId: string) => store.sessions.end(sessionId, Date.now()),
    endUserSessions: (userId: string, exceptSessionId?: string) => store.sessions.endAllForUser(userId, Date.now(), exceptSessionId),
    async listSessions (userId: string) {
      const now = Date.now()
      const sessions = await store.sessions.listForUser(userId)
      return sessions.filter(s => sessionIsActive(s, now))
    },
    purgeSessions: () => store.sessions.purge(Date.now())
  }
}

export type AuthService = ReturnType<typeof createAuthService>
