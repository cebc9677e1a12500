import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { defaultHashConcurrency } from './services/passwords.js'

/**
 * The environment, declared once. `loadConfig` is the only place that reads it;
 * everything else receives the validated `Config` object (tests build one the same way).
 */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:|postgres://|postgresql://)', default: 'sqlite:./data/app.db' }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, maximum: 1440, default: 15 }),
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 14 }),
  SESSION_IDLE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 7 }),
  DEFAULT_CLIENT_ID: Type.String({ minLength: 1, maxLength: 200, default: 'public' }),
  PASSWORD_MIN_LENGTH: Type.Integer({ minimum: 8, maximum: 64, default: 8 }),
  PASSWORD_HASH_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
  // Read by Node itself at start (libuv's thread pool); here only to size the default above.
  UV_THREADPOOL_SIZE: Type.Integer({ minimum: 1, maximum: 1024, default: 4 }),
  FIRST_SUPERUSER: Type.Optional(Type.String({ minLength: 1 })),
  FIRST_SUPERUSER_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  TOKEN_RATE_LIMIT: Type.Integer({ minimum: 0, default: 60 }),
  LOGIN_USERNAME_RATE_LIMIT: Type.Integer({ minimum: 0, default: 10 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  TRUST_PROXY: Type.Boolean({ default: false }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' })
})

type Env = Static<typeof EnvSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const MIN_SECRET_BYTES = 32
/** Placeholder values copied from tutorials and templates; refused in production. */
const KNOWN_DEFAULTS = new Set(['changethis', 'changeme', 'secret', 'your-secret-key', 'password', 'admin'])

/** Reads and validates the environment once; throws a ConfigError that names every bad key. */
export function loadConfig (source: Record<string, string | undefined> = {}) {
  // Empty strings mean "unset", as in most .env tooling.
  const raw = Object.fromEntries(Object.entries(source).filter(([k, v]) => k in EnvSchema.properties && v !== undefined && v !== ''))
  // TypeBox's conversion would read '1e3' or '3000.5' as integers: only plain digits count.
  const malformed = Object.entries(raw)
    .filter(([key, value]) => EnvSchema.properties[key as keyof Env].type === 'integer' && !/^\d+$/.test(value!))
    .map(([key]) => `${key}: expected a whole number`)
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Env
  const errors = [...malformed, ...[...Value.Errors(EnvSchema, env)].map(e => `${e.path.slice(1)}: ${e.message}`)]
  if (errors.length > 0) throw new ConfigError(`invalid configuration: ${errors.join('; ')}`)

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

  const origin = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`
  const issuer = env.JWT_ISSUER ?? origin
  return {
    production,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    trustProxy: env.TRUST_PROXY,
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE },
    auth: {
      jwtSecret: env.JWT_SECRET,
      issuer,
      audience: env.JWT_AUDIENCE ?? issuer,
      accessTokenTtlSeconds: env.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
      refreshTokenTtlSeconds: env.REFRESH_TOKEN_EXPIRE_DAYS * 86400,
      sessionIdleSeconds: env.SESSION_IDLE_DAYS * 86400,
      defaultClientId: env.DEFAULT_CLIENT_ID,
      passwordMinLength: env.PASSWORD_MIN_LENGTH,
      passwordHashConcurrency: env.PASSWORD_HASH_CONCURRENCY ?? defaultHashConcurrency(env.UV_THREADPOOL_SIZE)
    },
    firstSuperuser: env.FIRST_SUPERUSER !== undefined && env.FIRST_SUPERUSER_PASSWORD !== undefined
      ? { username: env.FIRST_SUPERUSER, password: env.FIRST_SUPERUSER_PASSWORD }
      : undefined,
    rateLimit: { tokenPerMinute: env.TOKEN_RATE_LIMIT, loginsPerUsername: env.LOGIN_USERNAME_RATE_LIMIT, redisUrl: env.REDIS_URL }
  }
}

export type Config = ReturnType<typeof loadConfig>
