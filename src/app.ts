import type { Server } from 'node:http'
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { ConfigError, type Config } from './config.js'
import { PolicyError } from './errors.js'
import configPlugin from '../plugins/config.js'
import validation from '../plugins/validation.js'
import requestBody from '../plugins/request-body.js'
import errors from '../plugins/errors.js'
import textSafety from '../plugins/text-safety.js'
import securityHeaders from '../plugins/security-headers.js'
import database from '../plugins/database.js'
import auth from '../plugins/auth/index.js'
import mail from '../plugins/mail.js'
import webhooks from '../plugins/webhooks.js'
import redis from '../plugins/redis.js'
import rateLimit from '../plugins/rate-limit.js'
import swagger from '../plugins/swagger.js'
import authRoutes from '../routes/auth/index.js'
import usersAdmin from '../routes/users/admin.js'
import audit from '../routes/audit.js'
import items from '../routes/items.js'
import wellKnown from '../routes/well-known.js'
import health from '../routes/health.js'
import { deferredChildLogger, requestForLog } from './http/request-log.js'
import { createRedisLoginFailureStore } from './stores/redis-login-failures.js'
import { createSqlMailStore } from './stores/sql-mail-store.js'
import { createSqlStore } from './stores/sql-store.js'

export interface AppOptions {
  config: Config
}

/** How long a client has to send a whole request, headers and body; ms. */
export const REQUEST_TIMEOUT_MS = 30_000

/** Fastify's own options for this app. */
export function fastifyOptions (config: Config): FastifyHttpOptions<Server> {
  return {
    logger: {
      level: config.logLevel,
      // Credentials never reach the logs (ASVS 16.2.5).
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
      // …nor do the credentials some URLs carry (an e-mail link's token, a provider's code and state).
      serializers: { req: requestForLog }
    },
    // A request's pino child is made when it writes a line, not on every request (src/http/request-log.ts).
    childLoggerFactory: deferredChildLogger,
    // Client addresses (rate limiting, logs, the audit log) come from X-Forwarded-For only behind a
    // trusted proxy, and then from its last hop, the one that proxy appended: with `true` Fastify
    // would take the first, which the client writes (found from outside: one audit row and a fresh
    // rate-limit bucket per spoofed address).
    trustProxy: config.trustProxy ? (_address: string, hop: number) => hop < 1 : false,
    // Defaults restated because security depends on them (see SECURITY.md).
    bodyLimit: 1024 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // A request (headers and body, ≤ 1 MiB) must arrive within 30 s: Fastify's default, 0, let a
    // client that stalls mid-body hold its connection forever (slowloris; found from outside).
    // Node's server gets both timeouts at creation (a headers timeout above the request timeout,
    // Node's 60 s default, silently disables the latter) and checks every 5 s (not 30).
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 5_000 }
  }
}

/**
 * The application as a plugin: it never reads the environment and never listens.
 * Plugins first, in dependency order; Swagger before any route; then the routes.
 */
const app: FastifyPluginAsync<AppOptions> = async (fastify, { config }) => {
  await fastify.register(configPlugin, { config })
  await fastify.register(validation)
  await fastify.register(requestBody)
  await fastify.register(errors)
  // NUL and invalid Unicode in any request text: a 400 before any route sees it (plugins/text-safety.ts).
  await fastify.register(textSafety)
  await fastify.register(securityHeaders)
  await fastify.register(database)
  await fastify.register(redis)
  // SQLite: the per-request session lookup cached, exactly (see createSqlStore); PostgreSQL: none.
  const sessionCache = config.database.sessionCache && fastify.dbChangeCounter !== null ? { changeCounter: fastify.dbChangeCounter } : undefined
  const sqlStore = createSqlStore(fastify.db, { sessionCache })
  // Login failures in Redis when it is configured (shared, expiring), else in the database.
  const loginFailures = fastify.redis === null ? sqlStore.loginFailures : createRedisLoginFailureStore(fastify.redis)
  await fastify.register(auth, { ...config.auth, store: { ...sqlStore, loginFailures } })
  if (config.auth.jwt.secret === undefined) fastify.log.info('JWT_SECRET unset: EdDSA keys from the database, served at /.well-known/jwks.json')
  // Issue 21: TOTP secrets at rest need DATA_ENCRYPTION_KEY. Production: required once a user has
  // TOTP (enrolment is refused without it); development: a warning.
  if (!fastify.authCore.mfa.encrypts) {
    if (config.production && await fastify.authCore.mfa.inUse()) throw new ConfigError('DATA_ENCRYPTION_KEY is required in production once a user has TOTP (two-factor authentication): set 32 random bytes in base64 (openssl rand -base64 32)')
    // When the server listens (not in the CLI, whose stderr carries its errors).
    if (!config.production) fastify.addHook('onListen', async () => { fastify.log.warn('DATA_ENCRYPTION_KEY unset: TOTP secrets are stored unencrypted (development only; production requires it once TOTP is used)') })
  }
  // Recovery and verification e-mails, through an outbox in the same database (issue 13).
  await fastify.register(mail, { ...config.mail, store: createSqlMailStore(fastify.db) })
  // Every event POSTed, signed, from an outbox written in the event's transaction (issue 22).
  if (config.webhooks !== undefined) await fastify.register(webhooks, config.webhooks)
  if (config.firstSuperuser !== undefined) {
    let created: boolean
    try {
      created = await fastify.authAccounts.ensureAdmin(config.firstSuperuser.username, config.firstSuperuser.password)
    } catch (error) {
      // A name or password /register would refuse stops the start, naming the variable.
      if (!(error instanceof PolicyError)) throw error
      throw new ConfigError(`${error.field === 'password' ? 'FIRST_SUPERUSER_PASSWORD' : 'FIRST_SUPERUSER'}: ${error.message}`)
    }
    if (created) fastify.log.info({ username: config.firstSuperuser.username }, 'first superuser created')
  }
  await fastify.register(rateLimit)
  await fastify.register(swagger)

  await fastify.register(authRoutes, { rateLimit: config.rateLimit.tokenPerMinute })
  await fastify.register(usersAdmin)
  await fastify.register(audit)
  await fastify.register(items)
  await fastify.register(wellKnown)
  await fastify.register(health)
}

export default fp(app, { fastify: '5.x', name: 'app' })

/**
 * Fastify with this app registered and ready: what the server, the command line and the tests
 * run. `overrides` adjusts Fastify's options (the CLI quiets the logger).
 */
export async function createApp (config: Config, overrides: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const fastify = Fastify({ ...fastifyOptions(config), ...overrides })
  try {
    await fastify.register(app, { config })
    await fastify.ready()
  } catch (error) {
    await fastify.close().catch(() => {})
    throw error
  }
  return fastify
}
