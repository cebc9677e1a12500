import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
// Kept in the emitted .d.ts (tsc drops the default import there): a consumer's compiler loads
// @fastify/jwt's declarations, which type `request.user` from the FastifyJWT merge below.
import '@fastify/jwt'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { insufficientScope, invalidToken, missingToken } from '../../src/http/errors.js'
import { bearerToken } from '../../src/http/bearer.js'
import { AuthSettings, defaultHashConcurrency } from '../../src/schemas/auth-options.js'
import { parseOrThrow } from '../../src/schemas/parse.js'
import type { AuthUser } from '../../src/schemas/user.js'
import { createAccountService } from '../../src/services/accounts.js'
import { hashProblem } from '../../src/services/hash-formats.js'
import { createLoginThrottle } from '../../src/services/login-throttle.js'
import { createPasswordHasher } from '../../src/services/passwords.js'
import { createScopeRegistry, type ScopeDefinition } from '../../src/services/scopes.js'
import { createSessionService } from '../../src/services/sessions.js'
import { AUTH_STORE_METHODS, type AuthStore } from '../../src/stores/auth-store.js'
import { createMemoryStore } from '../../src/stores/sql-store.js'
import { createAccessTokens, type AccessTokenContent } from '../../src/tokens/access-tokens.js'
import { createHmacKeyRing, createStoredKeyRing, type KeyRing } from '../../src/tokens/keys.js'
import sharedSchemas from '../shared-schemas.js'
import { protectRoutes } from './protect.js'

/** The plugin's options: every setting of `AuthSettings` may be omitted (its default applies), `jwt`'s fields too. */
export type AuthPluginOptions = Partial<Omit<AuthSettings, 'jwt'>> & {
  jwt?: Partial<AuthSettings['jwt']>
  /** where users, sessions and keys live; default: the SQL store on an in-memory SQLite */
  store?: AuthStore
  /** the app's own scopes, beside `me`, `items` and `admin`: granted by /token, listed in /docs */
  scopes?: Record<string, ScopeDefinition>
}

const PURGE_INTERVAL_MS = 60 * 60_000

/** @throws Error naming every invalid option, and every method a given `store` lacks */
function checkOptions ({ store, scopes, ...settings }: AuthPluginOptions) {
  const fail = (problems: string[]) => new Error(`auth plugin: invalid options: ${problems.join('; ')}`)
  const parsed = parseOrThrow(AuthSettings, settings, fail)
  if (store !== undefined) {
    const missing = Object.entries(AUTH_STORE_METHODS).flatMap(([part, methods]) =>
      methods.filter(m => typeof (store as unknown as Record<string, Record<string, unknown> | undefined>)[part]?.[m] !== 'function').map(m => `${part}.${m}`))
    if (missing.length > 0) throw new Error(`auth plugin: \`store\` does not implement AuthStore: missing ${missing.join(', ')}`)
  }
  return { settings: parsed, store, scopes }
}

/** Runs `task` every `ms` milliseconds until the app closes; failures are logged, never thrown. */
function every (fastify: FastifyInstance, ms: number, what: string, task: () => Promise<unknown>) {
  let closing = false
  // A run that was under way when the app closed fails on the closed database: not worth a warning.
  const timer = setInterval(() => { task().catch(err => { if (!closing) fastify.log.warn({ err }, `${what} failed`) }) }, ms)
  timer.unref()
  fastify.addHook('onClose', async () => { closing = true; clearInterval(timer) })
}

/**
 * The auth core, mountable in any Fastify app. It wires the parts (src/services, src/tokens,
 * src/stores) and decorates:
 * - `authenticate`: an onRequest hook answering RFC 6750 errors, that sets `request.user`
 *   and checks the route's `config.scopes`; routes with `config.scopes` get it by themselves;
 * - `authAccounts`, `authSessions`: the services, the only doors to users and sessions;
 * - `authKeys` (the signing keys), `authScopes` (the scope registry), `authIssuer`.
 * Access tokens are signed and verified by src/tokens/access-tokens.ts (fast-jwt). @fastify/jwt
 * (https://github.com/fastify/fastify-jwt) is registered verify-only with the same pins and keys,
 * for app code that calls `request.jwtVerify()` or `fastify.jwt.decode()`, and types `request.user`.
 */
const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (fastify, options) => {
  const { settings, scopes: declaredScopes, store: givenStore } = checkOptions(options)
  if (!fastify.hasPlugin('shared-schemas')) await fastify.register(sharedSchemas)

  let store = givenStore
  if (store === undefined) {
    const memory = await createMemoryStore()
    fastify.addHook('onClose', memory.close)
    store = memory.store
  }

  const issuer = settings.jwt.issuer
  const audience = settings.jwt.audience ?? issuer
  const reloadIntervalMs = settings.jwksMaxAgeSeconds * 1000
  const keys: KeyRing = settings.jwt.secret !== undefined
    ? createHmacKeyRing(settings.jwt.secret)
    : await createStoredKeyRing(store.keys, { accessTokenTtlMs: settings.accessTokenTtlSeconds * 1000, reloadIntervalMs, jwksMaxAgeMs: reloadIntervalMs })
  const tokens = createAccessTokens(keys, { issuer, audience, ttlSeconds: settings.accessTokenTtlSeconds })

  // For app code (request.jwtVerify, fastify.jwt.decode): verification only, with the same pins and
  // keys as tokens.verify, which this plugin uses itself (one verifier per key, no per-request setup).
  await fastify.register(fastifyJwt, {
    secret: { public: async (_request: FastifyRequest, token: unknown) => tokens.keyFor((token as { header?: { kid?: unknown } }).header?.kid) },
    decode: { complete: true },
    verify: { ...tokens.verifyOptions, extractToken: request => bearerToken(request.headers.authorization) ?? undefined }
  })

  const scopes = createScopeRegistry(declaredScopes)
  const passwords = await createPasswordHasher({
    concurrency: settings.passwordHashConcurrency ?? defaultHashConcurrency(),
    queueLimit: settings.passwordHashQueueLimit,
    maxWaitMs: settings.passwordHashMaxWaitSeconds * 1000,
    argon2: settings.argon2
  })
  // Requests waiting for argon2 are in flight, so Fastify waits for them; this waits for the rest.
  fastify.addHook('onClose', passwords.drain)
  // Imported hashes (bcrypt, pbkdf2) not upgraded yet: every login lasts as long as the slowest kind
  // computes. Kinds beyond the bound (hash-formats.ts) are never computed, here or at login.
  const foreign = await store.users.foreignHashSamples(passwords.nativePrefix)
  const problems = [...new Set(foreign.map(hashProblem).filter(problem => problem !== undefined))]
  if (problems.length > 0) {
    fastify.log.warn({ problems }, 'stored password hashes that cannot be verified: their users cannot log in until their password is reset')
  }
  const usable = foreign.filter(sample => hashProblem(sample) === undefined)
  if (usable.length > 0) {
    const floorMs = await passwords.calibrate(usable)
    fastify.log.info({ kinds: usable.length, floorMs: Math.round(floorMs) }, 'imported password hashes not upgraded yet: every password check lasts at least floorMs')
  }
  const throttle = createLoginThrottle({ store: store.loginFailures, limit: settings.loginFailureLimit, windowSeconds: settings.loginFailureWindowSeconds, log: fastify.log })
  const accounts = createAccountService({ store, passwords, scopes, throttle, settings })
  const sessions = createSessionService({
    store,
    passwords,
    scopes,
    accounts,
    throttle,
    log: fastify.log,
    settings,
    signAccessToken: (claims: AccessTokenContent) => tokens.sign(claims),
    verifyAccessToken: token => tokens.verify(token)
  })

  /**
   * RFC 6750: 401 without a token or with a bad one, 403 when the token lacks a `required` scope.
   * Sets `request.user`. @throws the RFC 6750 errors of src/http/errors.ts
   */
  async function check (request: FastifyRequest, required: readonly string[] | undefined): Promise<void> {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) throw missingToken()
    let claims: unknown
    try {
      if (token === null) throw new Error('malformed credentials')
      claims = await tokens.verify(token)
    } catch {
      throw invalidToken()
    }
    const user = await sessions.authenticate(claims)
    if (user === undefined) throw invalidToken()
    request.user = user
    if (required !== undefined && !required.every(s => user.token_scopes.includes(s))) throw insufficientScope(required)
  }

  /** The onRequest hook apps list themselves: the scopes come from the route's `config.scopes`. */
  const authenticate = (request: FastifyRequest) => check(request, request.routeOptions.config.scopes)

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('authAccounts', accounts)
  fastify.decorate('authSessions', sessions)
  fastify.decorate('authKeys', keys)
  fastify.decorate('authScopes', scopes)
  fastify.decorate('authIssuer', { issuer, audience, jwksMaxAgeSeconds: settings.jwksMaxAgeSeconds })
  // Where authRoutes is mounted ('' at the root): authRoutes records it, the metadata names it.
  fastify.decorate('authEndpoints', { prefix: '' })
  // Routes with config.scopes get a hook with their scopes bound (no per-request config lookup).
  protectRoutes(fastify, authenticate, required => async request => check(request, required), scopes)

  every(fastify, PURGE_INTERVAL_MS, 'session purge', sessions.purge)
  every(fastify, reloadIntervalMs, 'key reload', keys.reload)
  await sessions.purge()
}

export default fp(authPlugin, { fastify: '5.x', name: 'auth' })

declare module 'fastify' {
  interface FastifyInstance {
    // `import('fastify')`: tsc elides a named import used only in an augmentation of its own
    // module, and the emitted .d.ts would then not find FastifyRequest (TS2304 for consumers).
    authenticate: (request: import('fastify').FastifyRequest) => Promise<void>
    authAccounts: ReturnType<typeof createAccountService>
    authSessions: ReturnType<typeof createSessionService>
    authKeys: KeyRing
    authScopes: ReturnType<typeof createScopeRegistry>
    authIssuer: { issuer: string, audience: string, jwksMaxAgeSeconds: number }
    /** where the token endpoints are served: the prefix authRoutes was registered under */
    authEndpoints: { prefix: string }
  }
  interface FastifyContextConfig {
    /** scopes the access token must carry on this route (empty: any valid token); see protect.ts */
    scopes?: string[]
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenContent
    user: AuthUser
  }
}
