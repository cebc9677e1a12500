import type { TObject } from '@sinclair/typebox'
import { AuthSettings, defaultHashConcurrency } from '../schemas/auth-options.js'
import { createAccountService } from '../services/accounts.js'
import { createAuthorizationService } from '../services/authorization.js'
import { createClientRegistry } from '../services/oauth-clients.js'
import { estimatedCostMs, hashProblem } from '../services/hash-formats.js'
import { createLoginPipeline } from '../services/login.js'
import { createLoginThrottle } from '../services/login-throttle.js'
import { createMfaService } from '../services/mfa.js'
import { createPasswordHasher } from '../services/passwords.js'
import { createScopeRegistry, type ScopeDefinition } from '../services/scopes.js'
import { createSessionService } from '../services/sessions.js'
import { createSocialLoginService } from '../services/social-login.js'
import { createProviderRegistry } from '../social/providers.js'
import { createUserView } from '../services/user-view.js'
import type { AuthStore } from '../stores/auth-store.js'
import { createAccessTokens } from '../tokens/access-tokens.js'
import { createHmacKeyRing, createStoredKeyRing, type KeyRing } from '../tokens/keys.js'
import { createMemoryAuthorizationStore } from '../stores/sql-authorization-store.js'
import { authorizationCodeGrant } from '../grants/authorization-code.js'
import { mfaOtpGrant, mfaRecoveryCodeGrant } from '../grants/mfa.js'
import { passwordGrant } from '../grants/password.js'
import { refreshTokenGrant } from '../grants/refresh-token.js'
import { createGrantRegistry } from '../grants/registry.js'
import { createAudit } from './audit.js'
import { createAuthEvents } from './events.js'
import type { AuthHooks } from './hooks.js'

/** The logger the core writes to (pino's signature: Fastify's `log`, or the CLI's). */
export interface CoreLog {
  info (object: object, message: string): void
  warn (object: object, message: string): void
  error (object: object, message: string): void
}

export interface AuthCoreOptions {
  /** the app's own scopes, beside `me`, `items` and `admin` */
  scopes?: Record<string, ScopeDefinition>
  hooks?: AuthHooks
  /** the app's own fields on the user (a TypeBox object schema): validated by the routes, stored, shown */
  userMetadata?: TObject
}

const PURGE_INTERVAL_MS = 60 * 60_000
/** Foreign hash kinds measured at start for the timing floor: the costliest by estimate. */
const CALIBRATION_SAMPLES = 3

/** The hostname of an issuer URL (the otpauth URI's issuer), or the issuer itself when it is no URL. */
const hostnameOf = (issuer: string) => URL.canParse(issuer) && new URL(issuer).hostname !== '' ? new URL(issuer).hostname : issuer

/**
 * The auth core, built without Fastify: keys and access tokens, scopes, passwords, the login
 * throttle, events and hooks, accounts, sessions, the login pipeline, the grant registry (the
 * built-in grants registered as an app registers its own), and the authorization-code flow
 * (registered clients, the authorization service). The auth plugin (plugins/auth) is an
 * adapter over it; the CLI and unit tests use it as it is.
 *
 * Background work (the hourly purge, key reloads) starts with `start()` — the plugin calls it when
 * the server listens — and stops with `stop()`.
 * @param settings checked already (AuthSettings); times in seconds
 * @throws what the store throws while reading the keys and the stored hash kinds
 */
export async function createAuthCore (settings: AuthSettings, store: AuthStore, log: CoreLog, options: AuthCoreOptions = {}) {
  const issuer = settings.jwt.issuer
  const audience = settings.jwt.audience ?? issuer
  const reloadIntervalMs = settings.jwksMaxAgeSeconds * 1000
  const keys: KeyRing = settings.jwt.secret !== undefined
    ? createHmacKeyRing(settings.jwt.secret)
    : await createStoredKeyRing(store.keys, { accessTokenTtlMs: settings.accessTokenTtlSeconds * 1000, reloadIntervalMs, jwksMaxAgeMs: reloadIntervalMs })
  const tokens = createAccessTokens(keys, { issuer, audience, ttlSeconds: settings.accessTokenTtlSeconds })
  const hooks = options.hooks ?? {}
  const events = createAuthEvents(log, store)
  // The audit log (issue 22): every event stored, in its change's transaction where the service can.
  const audit = createAudit(store, { retentionDays: settings.auditRetentionDays })
  if (audit.enabled) events.useRecorder(audit.recorder)
  const scopes = createScopeRegistry(options.scopes)
  const view = createUserView(scopes, { metadata: options.userMetadata !== undefined })

  const passwords = await createPasswordHasher({
    concurrency: settings.passwordHashConcurrency ?? defaultHashConcurrency(),
    queueLimit: settings.passwordHashQueueLimit,
    maxWaitMs: settings.passwordHashMaxWaitSeconds * 1000,
    argon2: settings.argon2
  })
  // Imported hashes (bcrypt, pbkdf2) not upgraded yet: every login lasts as long as the slowest kind
  // computes. Kinds beyond the bound (hash-formats.ts) are never computed, here or at login.
  const foreign = await store.users.foreignHashSamples(passwords.nativePrefix)
  const problems = [...new Set(foreign.map(hashProblem).filter(problem => problem !== undefined))]
  if (problems.length > 0) log.warn({ problems }, 'stored password hashes that cannot be verified: their users cannot log in until their password is reset')
  // The costliest few kinds only (one check each, at start): hundreds of kinds within the bound
  // would otherwise hold the start past Fastify's plugin timeout (found from outside: 80 kinds).
  const usable = foreign.filter(sample => hashProblem(sample) === undefined)
    .sort((a, b) => estimatedCostMs(b) - estimatedCostMs(a)).slice(0, CALIBRATION_SAMPLES)
  if (usable.length > 0) {
    const floorMs = await passwords.calibrate(usable)
    log.info({ kinds: usable.length, floorMs: Math.round(floorMs) }, 'imported password hashes not upgraded yet: every password check lasts at least floorMs')
  }

  const throttle = createLoginThrottle({ store: store.loginFailures, limit: settings.loginFailureLimit, windowSeconds: settings.loginFailureWindowSeconds, log, events })
  const authorizationStore = store.authorization ?? createMemoryAuthorizationStore()
  const sessions = createSessionService({
    ...{ store, passwords, scopes, view, throttle, events },
    settings: { ...settings, rotationPepper: settings.jwt.secret },
    verifyAccessToken: token => tokens.verify(token),
    forgetPendingLogins: userId => authorizationStore.forgetUser(userId)
  })
  const accounts = createAccountService({ store, passwords, view, throttle, sessions, events, hooks, log, settings })
  const login = createLoginPipeline({ store, passwords, throttle, accounts, sessions, view, events, hooks, settings, sign: claims => tokens.sign(claims) })
  // A used refresh token coming back is a theft signal (RFC 9700 §4.14): a warning, not an ordinary refusal.
  events.on('refresh.reused', event => { log.warn({ event: 'refresh-reuse', userId: event.user_id, sessionId: event.session_id, clientId: event.client_id }, 'a used refresh token came back: its session ended') })
  // Two-factor authentication (issue 21): a login check (the password grant's 403 mfa_required, or
  // its `otp`) and the two Auth0 grants that finish the login.
  const mfa = createMfaService({
    store,
    passwords,
    throttle,
    events,
    log,
    endSessions: (userId, except, reason) => sessions.endAll(userId, except, reason),
    settings: { ...settings.mfa, issuerName: settings.mfa.issuerName ?? hostnameOf(issuer), defaultClientId: settings.defaultClientId }
  })
  login.addCheck(mfa.loginCheck)
  // The authorization-code flow (issue 23): a store without its part keeps requests and codes in memory.
  const clients = createClientRegistry(settings.oauthClients, authorizationStore)
  const authorization = createAuthorizationService({ store: authorizationStore, users: store.users, clients, login, mfa, sessions, scopes, issuer })
  // Social login (issue 23): upstream providers (OIDC_PROVIDERS_FILE), discovered at first use.
  if (settings.oidcProviders.length > 0 && store.identities === undefined) throw new Error('social login (oidcProviders) needs a store with `identities`')
  const redirectBase = settings.cookies.publicUrl ?? (/^https?:\/\//.test(issuer) ? issuer : undefined)
  const social = createSocialLoginService({
    providers: createProviderRegistry(settings.oidcProviders),
    store: store.identities,
    users: store.users,
    accounts,
    authorization,
    events,
    redirectBase: redirectBase?.replace(/\/+$/, '')
  })
  const grants = createGrantRegistry()
  grants.register(passwordGrant(login, clients))
  grants.register(refreshTokenGrant(login, clients))
  grants.register(authorizationCodeGrant(authorization, clients))
  grants.register(mfaOtpGrant({ login, mfa, clients }))
  grants.register(mfaRecoveryCodeGrant({ login, mfa, clients }))

  const timers: NodeJS.Timeout[] = []
  let stopped = false
  /** Runs `task` every `ms` until stop(); failures are logged, never thrown. */
  const every = (ms: number, what: string, task: () => Promise<unknown>) => {
    const timer = setInterval(() => { task().catch((err: unknown) => { if (!stopped) log.warn({ err }, `${what} failed`) }) }, ms)
    timer.unref()
    timers.push(timer)
  }

  return {
    settings,
    store,
    issuer: { issuer, audience, jwksMaxAgeSeconds: settings.jwksMaxAgeSeconds },
    keys,
    tokens,
    scopes,
    passwords,
    throttle,
    events,
    audit,
    hooks,
    userMetadata: options.userMetadata,
    view,
    accounts,
    sessions,
    login,
    grants,
    mfa,
    /** registered clients of the authorization-code flow */
    clients,
    authorization,
    /** social login: providers, the callback's rules, a user's identities */
    social,

    /** Rotates the signing key (the CLI's `keys rotate`): `key.rotated`, stored before this resolves. */
    async rotateKey () {
      const rotated = await keys.rotate()
      await events.record({ type: 'key.rotated', data: { kid: rotated.kid, signs_from: rotated.signsFrom.toISOString() } })
      return rotated
    },

    /** Starts the background work: the hourly purge (one now) and the key reloads. Idempotent. */
    start (): void {
      if (timers.length > 0 || stopped) return
      every(PURGE_INTERVAL_MS, 'session purge', sessions.purge)
      every(reloadIntervalMs, 'key reload', keys.reload)
      every(PURGE_INTERVAL_MS, 'audit purge', () => audit.purge())
      every(PURGE_INTERVAL_MS, 'mfa_token purge', mfa.purge)
      every(PURGE_INTERVAL_MS, 'authorization purge', authorization.purge)
      every(PURGE_INTERVAL_MS, 'social login purge', social.purge)
      sessions.purge().catch((err: unknown) => log.warn({ err }, 'session purge failed'))
      audit.purge().catch((err: unknown) => log.warn({ err }, 'audit purge failed'))
    },

    /** Stops the background work and waits for the password computations under way. */
    async stop (): Promise<void> {
      stopped = true
      for (const timer of timers) clearInterval(timer)
      await passwords.drain()
      await events.settled()
    }
  }
}
export type AuthCore = Awaited<ReturnType<typeof createAuthCore>>
