import fp from 'fastify-plugin'
import fastifyCookie from '@fastify/cookie'
import fastifyJwt from '@fastify/jwt'
// Kept in the emitted .d.ts (tsc drops the default import there): a consumer's compiler loads
// @fastify/jwt's declarations, which type `request.user` from the FastifyJWT merge below.
import '@fastify/jwt'
import type { TObject } from '@sinclair/typebox'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createAuthCore, type AuthCore } from '../../src/core/index.js'
import type { AuthEventListener, AuthEventType } from '../../src/core/events.js'
import type { AuthHooks, AuthTokenClaims, AuthUserMetadata } from '../../src/core/hooks.js'
import { createCookieTransport, type CookieTransport } from '../../src/http/cookie-transport.js'
import { insufficientScope, invalidToken, missingToken } from '../../src/http/errors.js'
import { bearerHeader, findToken, type TokenSource } from '../../src/http/token-sources.js'
import { AuthSettings } from '../../src/schemas/auth-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import type { AuthUser } from '../../src/schemas/user.js'
import type { ScopeDefinition } from '../../src/services/scopes.js'
import { AUTH_STORE_METHODS, MFA_STORE_METHODS, type AuthStore } from '../../src/stores/auth-store.js'
import { createMemoryStore } from '../../src/stores/sql-store.js'
import type { AccessTokenContent } from '../../src/tokens/access-tokens.js'
import sharedSchemas from '../shared-schemas.js'
import { protectRoutes } from './protect.js'

/**
 * `request.user` on an authenticated request: the public user, what the token granted (scopes,
 * session, client), and the app's metadata type. Frozen: one request cannot change what the
 * next one sees.
 */
export type AuthenticatedUser = Omit<AuthUser, 'metadata'> & { metadata: AuthUserMetadata }

/** The plugin's options: every setting of `AuthSettings` may be omitted (its default applies), `jwt`'s and `cookies`' fields too. */
export type AuthPluginOptions = Partial<Omit<AuthSettings, 'jwt' | 'cookies'>> & {
  jwt?: Partial<AuthSettings['jwt']>
  /** browser apps: `publicUrl` (the server's own origin; https: Secure cookies), `trustedOrigins`, `accessToken` */
  cookies?: Partial<AuthSettings['cookies']>
  /** where users, sessions and keys live; default: the SQL store on an in-memory SQLite */
  store?: AuthStore
  /** the app's own scopes, beside `me`, `items` and `admin`: granted by /token, listed in /docs */
  scopes?: Record<string, ScopeDefinition>
  /** `beforeUserCreated`, `accessTokenClaims` (src/core/hooks.ts) */
  hooks?: AuthHooks
  /** the app's own fields on the user: a TypeBox object schema, validated at /register and PATCH /users/me */
  userMetadata?: TObject
}

/**
 * The cookie transport's settings: the server's own origin from its public URL (or the issuer),
 * Secure over https. The origin a request names in Host counts as the server's own only when
 * neither says where browsers reach it and that is plain http (development): behind TLS, or with
 * a public URL, a Host-derived `http://` origin is not the server's (found from outside).
 */
function cookieSettings (settings: AuthSettings) {
  const base = settings.cookies.publicUrl ?? (/^https?:\/\//.test(settings.jwt.issuer) ? settings.jwt.issuer : undefined)
  const url = base === undefined || !URL.canParse(base) ? undefined : new URL(base)
  const ownOrigin = url?.origin
  const secure = ownOrigin?.startsWith('https:') ?? false
  return {
    secure,
    ownOrigin,
    // Behind a path (PUBLIC_URL=https://example.com/auth), the server's pages are under it.
    publicBase: url === undefined ? undefined : `${url.origin}${url.pathname.replace(/\/+$/, '')}`,
    requestOriginIsOwn: settings.cookies.publicUrl === undefined && !secure,
    trustedOrigins: settings.cookies.trustedOrigins,
    accessToken: settings.cookies.accessToken,
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds
  }
}

/** @throws Error naming every invalid option, and every method a given `store` lacks */
function checkOptions ({ store, scopes, hooks, userMetadata, ...settings }: AuthPluginOptions) {
  const fail = (problems: string[]) => new Error(`auth plugin: invalid options: ${problems.join('; ')}`)
  const parsed = parseOrThrow(AuthSettings, settings, fail)
  if (store !== undefined) {
    // Only the parts every store has had; parts added later are optional (checked where used).
    const missing = Object.entries(AUTH_STORE_METHODS).flatMap(([part, methods]) =>
      methods.filter(m => typeof (store as unknown as Record<string, Record<string, unknown> | undefined>)[part]?.[m] !== 'function').map(m => `${part}.${m}`))
    // The optional parts (issue 21: `mfa`): absent is fine, present must be whole.
    const mfa = (store as { mfa?: Record<string, unknown> }).mfa
    if (mfa !== undefined) missing.push(...MFA_STORE_METHODS.filter(m => typeof mfa?.[m] !== 'function').map(m => `mfa.${m}`))
    if (missing.length > 0) throw new Error(`auth plugin: \`store\` does not implement AuthStore: missing ${missing.join(', ')}`)
  }
  for (const name of ['beforeUserCreated', 'accessTokenClaims'] as const) {
    if (hooks?.[name] !== undefined && typeof hooks[name] !== 'function') throw fail([`hooks.${name}: expected a function`])
  }
  if (userMetadata !== undefined && (userMetadata as { type?: unknown }).type !== 'object') throw fail(['userMetadata: expected a TypeBox object schema (Type.Object)'])
  return { settings: parsed, store, scopes, hooks, userMetadata }
}

/**
 * The auth plugin: an adapter that builds the auth core (src/core: createAuthCore) and wires it
 * into Fastify. It decorates:
 * - `authenticate`: an onRequest hook answering RFC 6750 errors, that sets `request.user` and
 *   checks the route's `config.scopes`; routes with `config.scopes` get it by themselves;
 * - `authCore` and its parts: `authAccounts`, `authSessions`, `authLogin` (the login pipeline:
 *   `addCheck`), `authGrants` (`register` a grant type), `authEvents` (`on(type | '*', listener)`),
 *   `authKeys`, `authScopes`, `authIssuer`, `authEndpoints`, and `authTokenSources` (where
 *   `authenticate` looks for a token, in order: the bearer header first, then the access-token
 *   cookie when `cookies.accessToken` is on), `authCookies` (the cookie transport of browser apps);
 * Background work (purge, key reloads) starts when the server listens, not in the CLI or a test
 * app that never listens. Access tokens are verified by src/tokens/access-tokens.ts (fast-jwt);
 * @fastify/jwt (https://github.com/fastify/fastify-jwt) is registered verify-only with the same
 * pins and keys, for app code that calls `request.jwtVerify()`, and types `request.user`.
 */
const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (fastify, options) => {
  const { settings, scopes: declaredScopes, store: givenStore, hooks, userMetadata } = checkOptions(options)
  if (!fastify.hasPlugin('shared-schemas')) await fastify.register(sharedSchemas, { userMetadata })

  let store = givenStore
  if (store === undefined) {
    const memory = await createMemoryStore()
    fastify.addHook('onClose', memory.close)
    store = memory.store
  }
  const core = await createAuthCore(settings, store, fastify.log, { scopes: declaredScopes, hooks, userMetadata })
  const { tokens, sessions, events } = core
  // Requests waiting for argon2 are in flight, so Fastify waits for them; stop() waits for the rest.
  fastify.addHook('onListen', async () => { core.start() })
  fastify.addHook('onClose', core.stop)

  // Browser apps: cookies parsed and written by @fastify/cookie (registered once, app-wide),
  // without its parsing hook: cookies are parsed when read (requestCookies), not on every request.
  // An app that reads request.cookies itself registers @fastify/cookie first, with its hook.
  if (!fastify.hasPlugin('@fastify/cookie')) await fastify.register(fastifyCookie, { hook: false })
  const cookies = createCookieTransport(cookieSettings(settings), () => fastify.authEndpoints.prefix)
  const sources: TokenSource[] = cookies.accessSource === undefined ? [bearerHeader] : [bearerHeader, cookies.accessSource]

  // For app code (request.jwtVerify, fastify.jwt.decode): verification only, with the same pins and
  // keys as tokens.verify, which this plugin uses itself (one verifier per key, no per-request setup).
  // request.user is this plugin's alone: @fastify/jwt's request.jwtVerify() puts the bare token's
  // claims on request.jwtPayload instead, never where the session-checked user is read.
  fastify.decorateRequest('user', null)
  await fastify.register(fastifyJwt, {
    decoratorName: 'jwtPayload',
    secret: { public: async (_request: FastifyRequest, token: unknown) => tokens.keyFor((token as { header?: { kid?: unknown } }).header?.kid) },
    decode: { complete: true },
    verify: { ...tokens.verifyOptions, extractToken: request => findToken(sources, request)?.token ?? undefined }
  })

  /**
   * RFC 6750: 401 without a token or with a bad one, 403 when the token lacks a `required` scope.
   * Sets `request.user`. Synchronous when the key and the session are in memory (the common
   * case on SQLite: no promise, no microtask), else a promise.
   * @throws the RFC 6750 errors of src/http/errors.ts (or rejects with them)
   */
  function check (request: FastifyRequest, required: readonly string[] | undefined): void | Promise<void> {
    const found = findToken(sources, request)
    if (found === undefined) throw missingToken()
    if (found.token === null) throw invalidToken()
    let claims: unknown
    try {
      claims = tokens.verifyNow(found.token)
    } catch {
      throw invalidToken()
    }
    if (claims instanceof Promise) return claims.then(verified => admit(request, verified, required), () => { throw invalidToken() })
    return admit(request, claims, required)
  }

  /** The session check of verified claims, then the scopes (see check). */
  function admit (request: FastifyRequest, claims: unknown, required: readonly string[] | undefined): void | Promise<void> {
    const user = sessions.authenticateNow(claims)
    if (user instanceof Promise) return user.then(found => { accept(request, found, required) })
    accept(request, user, required)
  }

  /** Sets `request.user`. @throws invalid_token without a user, insufficient_scope without a `required` scope */
  function accept (request: FastifyRequest, user: AuthUser | undefined, required: readonly string[] | undefined): void {
    if (user === undefined) throw invalidToken()
    request.user = user as AuthenticatedUser
    if (required !== undefined && !required.every(s => user.token_scopes.includes(s))) throw insufficientScope(required)
  }

  /** The onRequest hook apps list themselves: the scopes come from the route's `config.scopes`. */
  const authenticate = async (request: FastifyRequest) => { await check(request, request.routeOptions.config.scopes) }

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('authCore', core)
  fastify.decorate('authAccounts', core.accounts)
  fastify.decorate('authSessions', sessions)
  fastify.decorate('authLogin', core.login)
  fastify.decorate('authGrants', core.grants)
  fastify.decorate('authEvents', { on: (type: AuthEventType | '*', listener: AuthEventListener) => events.on(type, listener) })
  fastify.decorate('authKeys', core.keys)
  fastify.decorate('authScopes', core.scopes)
  fastify.decorate('authIssuer', core.issuer)
  fastify.decorate('authTokenSources', sources)
  fastify.decorate('authCookies', cookies)
  // Where authRoutes is mounted ('' at the root): authRoutes records it, the metadata names it.
  fastify.decorate('authEndpoints', { prefix: '' })
  // Routes with config.scopes get a hook with their scopes bound (no per-request config lookup).
  protectRoutes(fastify, authenticate, required => request => check(request, required), core.scopes)
}

export default fp(authPlugin, { fastify: '5.x', name: 'auth' })

declare module 'fastify' {
  interface FastifyInstance {
    // `import('fastify')`: tsc elides a named import used only in an augmentation of its own
    // module, and the emitted .d.ts would then not find FastifyRequest (TS2304 for consumers).
    authenticate: (request: import('fastify').FastifyRequest) => Promise<void>
    authCore: AuthCore
    authAccounts: AuthCore['accounts']
    authSessions: AuthCore['sessions']
    authLogin: AuthCore['login']
    authGrants: AuthCore['grants']
    /** the contract's events, after their change committed; a listener never fails or delays a request */
    authEvents: { on: (type: AuthEventType | '*', listener: AuthEventListener) => () => void }
    authKeys: AuthCore['keys']
    authScopes: AuthCore['scopes']
    authIssuer: AuthCore['issuer']
    /** where `authenticate` looks for an access token, in order */
    authTokenSources: TokenSource[]
    /** browser apps: the refresh (and access) token cookies, for requests with X-Token-Transport: cookie */
    authCookies: CookieTransport
    /** where the token endpoints are served: the prefix authRoutes was registered under */
    authEndpoints: { prefix: string }
  }
  interface FastifyRequest {
    /** the verified claims, once app code called @fastify/jwt's `request.jwtVerify()` (no session check); else null */
    jwtPayload: (AccessTokenContent & AuthTokenClaims) | null
  }
  interface FastifyContextConfig {
    /** scopes the access token must carry on this route (empty: any valid token); see protect.ts */
    scopes?: string[]
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenContent & AuthTokenClaims
    /** `request.user`: null where no route protection ran; `currentUser(request)` is the checked read */
    user: AuthenticatedUser | null
  }
}
