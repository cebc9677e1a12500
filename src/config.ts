import { readFileSync } from 'node:fs'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { AuthSettings, defaultHashConcurrency } from './schemas/auth-options.js'
import { clientConfigProblems } from './services/oauth-clients.js'
import { providerConfigProblems } from './social/provider-config.js'
import { parseOrThrow } from './schemas/parse.js'
import { defaultMailFrom, defaultPublicUrl, type MailOptions } from './schemas/mail-options.js'
import { WEBHOOK_SECRET_PATTERN, webhookEventsProblem, webhookSecretProblem, webhookUrlProblem, type WebhookOptions } from './schemas/webhook-options.js'
import { encryptionKeyProblem } from './services/mfa-crypto.js'

/**
 * The environment, declared once. `loadConfig` is the only place that reads it; everything
 * else receives the validated `Config` (tests build one the same way). The auth settings'
 * bounds and defaults are the auth plugin's own (`AuthSettings`): the variables below are
 * only converted to the plugin's units, then checked against that schema.
 */
const Whole = (options: { minimum?: number, maximum?: number, default?: number } = {}) => Type.Integer(options)
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Whole({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:|postgres://|postgresql://)', default: 'sqlite:./data/app.db', description: 'sqlite:<path>, sqlite::memory: or postgres://user:password@host:5432/db' }),
  DATABASE_POOL_SIZE: Whole({ minimum: 1, maximum: 100, default: 10 }),
  SESSION_CACHE: Type.Boolean({ default: true }),
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Optional(Whole()),
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Optional(Whole()),
  REFRESH_REUSE_INTERVAL_SECONDS: Type.Optional(Whole()),
  SESSION_IDLE_DAYS: Type.Optional(Whole()),
  MAX_SESSIONS_PER_USER: Type.Optional(Whole()),
  DEFAULT_CLIENT_ID: Type.Optional(Type.String()),
  JWKS_MAX_AGE_SECONDS: Type.Optional(Whole()),
  PASSWORD_MIN_LENGTH: Type.Optional(Whole()),
  PASSWORD_HASH_CONCURRENCY: Type.Optional(Whole()),
  PASSWORD_HASH_QUEUE_LIMIT: Type.Optional(Whole()),
  PASSWORD_HASH_MAX_WAIT_SECONDS: Type.Optional(Whole()),
  // Read by Node itself at start (libuv's thread pool); here only to size the default above.
  UV_THREADPOOL_SIZE: Whole({ minimum: 1, maximum: 1024, default: 4 }),
  FIRST_SUPERUSER: Type.Optional(Type.String({ minLength: 1 })),
  FIRST_SUPERUSER_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  TOKEN_RATE_LIMIT: Whole({ minimum: 0, default: 60 }),
  LOGIN_USERNAME_RATE_LIMIT: Type.Optional(Whole()),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis://host:6379 or rediss://host:6380 (TLS)' })),
  TRUST_PROXY: Type.Boolean({ default: false }),
  ACCESS_TOKEN_COOKIE: Type.Boolean({ default: false }),
  CORS_ORIGINS: Type.Optional(Type.String({ pattern: '^https?://[^\\s,]+(,\\s*https?://[^\\s,]+)*$', description: 'comma-separated origins, e.g. https://app.example.com', refusedValues: { '(^|,)\\s*\\*\\s*(,|$)': "'*' is not allowed: list the origins, as credentials are allowed" } })),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://\\S+$', description: 'smtp://user:pass@host:587 or smtps://user:pass@host:465, without spaces' })),
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3, maxLength: 320, pattern: '@', description: 'an e-mail address, or Name <address>' })),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$', description: 'an http(s) URL without query or fragment, e.g. https://auth.example.com or https://example.com/auth' })),
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false }),
  EMAIL_COOLDOWN_SECONDS: Whole({ minimum: 0, maximum: 3600, default: 60 }),
  AUDIT_RETENTION_DAYS: Type.Optional(Whole()),
  WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'the receiver of every event, e.g. https://hooks.example.com/auth' })),
  WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: WEBHOOK_SECRET_PATTERN, description: 'whsec_ and the base64 of at least 24 random bytes: whsec_$(openssl rand -base64 32)' })),
  WEBHOOK_EVENTS: Type.Optional(Type.String({ pattern: '^[a-z_.]+(,\\s*[a-z_.]+)*$', description: 'comma-separated event types, e.g. user.created,password.changed (default: every type)' })),
  DATA_ENCRYPTION_KEY: Type.Optional(Type.String({ description: '32 random bytes in base64 (openssl rand -base64 32): encrypts TOTP secrets at rest' })),
  OAUTH_CLIENTS_FILE: Type.Optional(Type.String({ minLength: 1, description: 'a JSON file: an array of {client_id, client_secret_hash? | public: true, redirect_uris, scopes?, first_party?}' })),
  OIDC_PROVIDERS_FILE: Type.Optional(Type.String({ minLength: 1, description: 'a JSON file: an array of {id, name, issuer, client_id, client_secret} (OpenID Connect) or {id: "github", client_id, client_secret}' })),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' })
})
type Env = Static<typeof EnvSchema>

/** The variable behind each auth setting, and its unit in seconds: errors name the variable. */
const AUTH_VARIABLES: Record<string, [keyof Env, number]> = {
  'jwt.secret': ['JWT_SECRET', 1],
  'jwt.issuer': ['JWT_ISSUER', 1],
  'jwt.audience': ['JWT_AUDIENCE', 1],
  accessTokenTtlSeconds: ['ACCESS_TOKEN_EXPIRE_MINUTES', 60],
  refreshTokenTtlSeconds: ['REFRESH_TOKEN_EXPIRE_DAYS', 86_400],
  refreshReuseIntervalSeconds: ['REFRESH_REUSE_INTERVAL_SECONDS', 1],
  sessionIdleSeconds: ['SESSION_IDLE_DAYS', 86_400],
  maxSessionsPerUser: ['MAX_SESSIONS_PER_USER', 1],
  defaultClientId: ['DEFAULT_CLIENT_ID', 1],
  jwksMaxAgeSeconds: ['JWKS_MAX_AGE_SECONDS', 1],
  passwordMinLength: ['PASSWORD_MIN_LENGTH', 1],
  passwordHashConcurrency: ['PASSWORD_HASH_CONCURRENCY', 1],
  passwordHashQueueLimit: ['PASSWORD_HASH_QUEUE_LIMIT', 1],
  passwordHashMaxWaitSeconds: ['PASSWORD_HASH_MAX_WAIT_SECONDS', 1],
  loginFailureLimit: ['LOGIN_USERNAME_RATE_LIMIT', 1],
  auditRetentionDays: ['AUDIT_RETENTION_DAYS', 1],
  oauthClients: ['OAUTH_CLIENTS_FILE', 1],
  oidcProviders: ['OIDC_PROVIDERS_FILE', 1]
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const MIN_SECRET_BYTES = 32
/** Placeholder values copied from tutorials and templates; refused in production. */
const KNOWN_DEFAULTS = new Set(['changethis', 'changeme', 'secret', 'your-secret-key', 'password', 'admin'])

const invalid = (problems: string[]) => new ConfigError(`invalid configuration: ${problems.join('; ')}`)

/** CORS_ORIGINS as a list, without trailing slashes. */
const corsOrigins = (env: Env): string[] => env.CORS_ORIGINS === undefined ? [] : env.CORS_ORIGINS.split(',').map(origin => origin.trim().replace(/\/$/, ''))

/** PUBLIC_URL, by default the issuer (when it is an http(s) URL, else this server's origin); no trailing slash. */
function publicUrlOf (env: Env, issuer: string): string {
  const origin = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`
  return (env.PUBLIC_URL ?? defaultPublicUrl(issuer, origin) ?? origin).replace(/\/+$/, '')
}

/**
 * The JSON array of the file a variable names (OAUTH_CLIENTS_FILE's clients, OIDC_PROVIDERS_FILE's
 * providers), as read: checked with the other auth settings, then for what the schema cannot say.
 * Errors never quote the file's content (it holds secrets).
 * @throws ConfigError naming the variable: unreadable file, not JSON, not an array
 */
function jsonArrayFile (variable: 'OAUTH_CLIENTS_FILE' | 'OIDC_PROVIDERS_FILE', path: string | undefined, what: string): unknown {
  if (path === undefined) return undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${path} (${(error as { code?: string }).code ?? 'error'})`)
  }
  let entries: unknown
  try {
    entries = JSON.parse(text)
  } catch {
    throw new ConfigError(`${variable}: ${path} is not JSON`)
  }
  if (!Array.isArray(entries)) throw new ConfigError(`${variable}: ${path} must hold a JSON array of ${what}`)
  return entries
}

/** The auth plugin's options from the environment, checked against the plugin's own schema. */
function authSettings (env: Env): AuthSettings & { passwordHashConcurrency: number } {
  const origin = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`
  const issuer = env.JWT_ISSUER ?? origin
  const scaled = (key: keyof Env, unit: number) => env[key] === undefined ? undefined : Number(env[key]) * unit
  const options = {
    jwt: { secret: env.JWT_SECRET, issuer, audience: env.JWT_AUDIENCE ?? issuer },
    accessTokenTtlSeconds: scaled('ACCESS_TOKEN_EXPIRE_MINUTES', 60),
    refreshTokenTtlSeconds: scaled('REFRESH_TOKEN_EXPIRE_DAYS', 86_400),
    sessionIdleSeconds: scaled('SESSION_IDLE_DAYS', 86_400),
    maxSessionsPerUser: env.MAX_SESSIONS_PER_USER,
    defaultClientId: env.DEFAULT_CLIENT_ID,
    jwksMaxAgeSeconds: env.JWKS_MAX_AGE_SECONDS,
    passwordMinLength: env.PASSWORD_MIN_LENGTH,
    passwordHashConcurrency: env.PASSWORD_HASH_CONCURRENCY ?? defaultHashConcurrency(env.UV_THREADPOOL_SIZE),
    passwordHashQueueLimit: env.PASSWORD_HASH_QUEUE_LIMIT,
    passwordHashMaxWaitSeconds: env.PASSWORD_HASH_MAX_WAIT_SECONDS,
    loginFailureLimit: env.LOGIN_USERNAME_RATE_LIMIT,
    refreshReuseIntervalSeconds: env.REFRESH_REUSE_INTERVAL_SECONDS,
    cookies: { publicUrl: env.PUBLIC_URL, trustedOrigins: corsOrigins(env), accessToken: env.ACCESS_TOKEN_COOKIE },
    auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    oauthClients: jsonArrayFile('OAUTH_CLIENTS_FILE', env.OAUTH_CLIENTS_FILE, 'clients'),
    oidcProviders: jsonArrayFile('OIDC_PROVIDERS_FILE', env.OIDC_PROVIDERS_FILE, 'providers')
  }
  // Omitted settings take the schema's defaults; JSON drops the undefined ones.
  const settings = parseOrThrow(AuthSettings, JSON.parse(JSON.stringify(options)), problems => invalid(problems.map(problem => {
    const [path = '', message = ''] = problem.split(': ')
    // An entry of a file by its index: `OAUTH_CLIENTS_FILE[0].redirect_uris.1`, `OIDC_PROVIDERS_FILE[1].issuer`.
    const [variable, unit] = AUTH_VARIABLES[path] ??
      (path.startsWith('oauthClients.')
        ? [`OAUTH_CLIENTS_FILE[${path.slice(13).replace('.', '].')}`, 1]
        : path.startsWith('oidcProviders.') ? [`OIDC_PROVIDERS_FILE[${path.slice(14).replace('.', '].')}`, 1] : [path, 1])
    return `${variable}: ${message}${unit === 1 ? '' : ` (in seconds: ${variable} × ${unit})`}`
  })))
  const clientProblems = clientConfigProblems(settings.oauthClients)
  if (clientProblems.length > 0) throw invalid(clientProblems.map(problem => `OAUTH_CLIENTS_FILE: ${problem}`))
  const providerProblems = providerConfigProblems(settings.oidcProviders)
  if (providerProblems.length > 0) throw invalid(providerProblems.map(problem => `OIDC_PROVIDERS_FILE: ${problem}`))
  return { ...settings, passwordHashConcurrency: options.passwordHashConcurrency }
}

/**
 * The mail plugin's settings (issue 13). PUBLIC_URL defaults to the issuer (when it is an http(s)
 * URL, else this server's origin), MAIL_FROM to no-reply@ and the issuer's hostname, without port.
 */
function mailSettings (env: Env, issuer: string, production: boolean): MailOptions {
  if (env.SMTP_URL !== undefined && !URL.canParse(env.SMTP_URL)) throw new ConfigError('SMTP_URL: not a URL (smtp://user:pass@host:587 or smtps://…)')
  const publicUrl = publicUrlOf(env, issuer)
  return {
    smtpUrl: env.SMTP_URL,
    from: env.MAIL_FROM ?? defaultMailFrom(defaultPublicUrl(issuer) ?? publicUrl),
    publicUrl,
    requireVerifiedEmail: env.REQUIRE_VERIFIED_EMAIL,
    cooldownSeconds: env.EMAIL_COOLDOWN_SECONDS,
    production
  }
}

/**
 * The webhooks plugin's settings (issue 22): none without WEBHOOK_URL. The URL and the secret go
 * together; the event types are checked against the known ones by the plugin.
 */
function webhookSettings (env: Env, production: boolean): WebhookOptions | undefined {
  if ((env.WEBHOOK_URL === undefined) !== (env.WEBHOOK_SECRET === undefined)) throw new ConfigError('WEBHOOK_URL and WEBHOOK_SECRET go together')
  if (env.WEBHOOK_URL === undefined || env.WEBHOOK_SECRET === undefined) {
    if (env.WEBHOOK_EVENTS !== undefined) throw new ConfigError('WEBHOOK_EVENTS needs WEBHOOK_URL and WEBHOOK_SECRET')
    return undefined
  }
  const urlProblem = webhookUrlProblem(env.WEBHOOK_URL)
  if (urlProblem !== undefined) throw new ConfigError(`WEBHOOK_URL: ${urlProblem}`)
  if (production && !env.WEBHOOK_URL.startsWith('https://')) throw new ConfigError('WEBHOOK_URL must be https in production (events carry user ids and addresses)')
  const problem = webhookSecretProblem(env.WEBHOOK_SECRET)
  if (problem !== undefined) throw new ConfigError(`WEBHOOK_SECRET: ${problem}`)
  const events = env.WEBHOOK_EVENTS?.split(',').map(type => type.trim()).filter(type => type !== '') ?? []
  const eventsProblem = webhookEventsProblem(events)
  if (eventsProblem !== undefined) throw new ConfigError(`WEBHOOK_EVENTS: ${eventsProblem}`)
  return { url: env.WEBHOOK_URL, secret: env.WEBHOOK_SECRET, events }
}

/**
 * The process environment with `./.env` applied under it (Node's own parser, process.loadEnvFile):
 * variables already set win. The server and the CLI both read it, so they open the same database.
 * @throws the file's read error, but for a missing file
 */
export function environment (): NodeJS.ProcessEnv {
  try {
    process.loadEnvFile()
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error
  }
  return process.env
}

/** Reads and validates the environment once; throws a ConfigError that names every bad key. */
export function loadConfig (source: Record<string, string | undefined> = {}) {
  // Empty strings mean "unset", as in most .env tooling.
  const raw = Object.fromEntries(Object.entries(source).filter(([k, v]) => k in EnvSchema.properties && v !== undefined && v !== ''))
  // Only plain digits count as whole numbers: TypeBox's conversion would read '1e3' or '3000.5'.
  const isMalformed = ([key, value]: [string, string | undefined]) => EnvSchema.properties[key as keyof Env].type === 'integer' && !/^\d+$/.test(value!)
  const malformed = Object.entries(raw).filter(isMalformed).map(([key]) => `${key}: expected a whole number`)
  const wellFormed = Object.fromEntries(Object.entries(raw).filter(entry => !isMalformed(entry)))
  const env = parseOrThrow(EnvSchema, Value.Convert(EnvSchema, wellFormed), problems => invalid([...malformed, ...problems]))
  if (malformed.length > 0) throw invalid(malformed)

  const production = env.NODE_ENV === 'production'
  if (env.JWT_SECRET !== undefined) {
    if (Buffer.byteLength(env.JWT_SECRET) < MIN_SECRET_BYTES) {
      throw new ConfigError(`JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`)
    }
    if (production && new Set(env.JWT_SECRET).size < 10) {
      throw new ConfigError('JWT_SECRET is too weak for production: use a random value (openssl rand -hex 32)')
    }
  }
  if ((env.FIRST_SUPERUSER === undefined) !== (env.FIRST_SUPERUSER_PASSWORD === undefined)) {
    throw new ConfigError('FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD go together')
  }
  if (production && env.FIRST_SUPERUSER_PASSWORD !== undefined && KNOWN_DEFAULTS.has(env.FIRST_SUPERUSER_PASSWORD.toLowerCase())) {
    throw new ConfigError('FIRST_SUPERUSER_PASSWORD is a default value: refusing to start in production')
  }

  if (env.DATA_ENCRYPTION_KEY !== undefined) {
    const problem = encryptionKeyProblem(env.DATA_ENCRYPTION_KEY)
    if (problem !== undefined) throw new ConfigError(`DATA_ENCRYPTION_KEY: ${problem}`)
  }

  const auth = authSettings(env)
  const mail = mailSettings(env, auth.jwt.issuer, production)
  // Issue 21: TOTP secrets encrypted with DATA_ENCRYPTION_KEY; production refuses enrolment without
  // it, and refuses to start without it once a user has TOTP (src/app.ts: that needs the database).
  // Authenticator apps show the issuer: PUBLIC_URL's hostname (or the issuer's).
  auth.mfa = { encryptionKey: env.DATA_ENCRYPTION_KEY, issuerName: mail.publicUrl !== undefined && URL.canParse(mail.publicUrl) ? new URL(mail.publicUrl).hostname : undefined, requireEncryption: production }
  return {
    production,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    trustProxy: env.TRUST_PROXY,
    /** browser origins allowed to call the API (CORS); none by default */
    corsOrigins: corsOrigins(env),
    /** sessionCache: the exact per-request cache on SQLite (SESSION_CACHE=false: every request asks the database) */
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, sessionCache: env.SESSION_CACHE },
    /** the auth plugin's options, as `app.register(auth, …)` takes them */
    auth,
    firstSuperuser: env.FIRST_SUPERUSER !== undefined && env.FIRST_SUPERUSER_PASSWORD !== undefined
      ? { username: env.FIRST_SUPERUSER, password: env.FIRST_SUPERUSER_PASSWORD }
      : undefined,
    /** per client address, on /token, /token/revoke and /register (0: off) */
    rateLimit: { tokenPerMinute: env.TOKEN_RATE_LIMIT },
    /** the mail plugin's options (plugins/mail.ts) */
    mail,
    /** the webhooks plugin's options (plugins/webhooks.ts); undefined: no webhooks */
    webhooks: webhookSettings(env, production),
    redisUrl: env.REDIS_URL
  }
}

export type Config = ReturnType<typeof loadConfig>
