import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { ConfigError, EnvSchema, loadConfig } from '../src/config.js'
import { assertConfigRefused, bearer, build, login, PASSWORD, registerAndLogin } from './helper.js'

/* The environment (CONTRACT.md "Running"), validated once by loadConfig. */

const STRONG_SECRET = randomBytes(32).toString('hex')

const refuses = assertConfigRefused

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({})
    assert.equal(config.port, 3000)
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.database.url, 'sqlite:./data/app.db')
    assert.equal(config.auth.jwt.secret, undefined)
    assert.equal(config.auth.jwt.issuer, 'http://127.0.0.1:3000')
    assert.equal(config.auth.jwt.audience, 'http://127.0.0.1:3000')
    assert.equal(config.auth.accessTokenTtlSeconds, 15 * 60)
    assert.equal(config.auth.refreshTokenTtlSeconds, 14 * 86400)
    assert.equal(config.rateLimit.tokenPerMinute, 60)
    assert.equal(config.logLevel, 'info')
    assert.equal(config.production, false)
    assert.equal(config.firstSuperuser, undefined)
  })

  it('reads the documented variables', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://app@db/app',
      JWT_SECRET: STRONG_SECRET,
      ACCESS_TOKEN_EXPIRE_MINUTES: '5',
      REFRESH_TOKEN_EXPIRE_DAYS: '30',
      TOKEN_RATE_LIMIT: '0',
      LOG_LEVEL: 'warn',
      FIRST_SUPERUSER: 'root',
      FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1'
    })
    assert.equal(config.port, 8080)
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.database.url, 'postgres://app@db/app')
    assert.equal(config.auth.jwt.secret, STRONG_SECRET)
    assert.equal(config.auth.accessTokenTtlSeconds, 300)
    assert.equal(config.auth.refreshTokenTtlSeconds, 30 * 86400)
    assert.equal(config.rateLimit.tokenPerMinute, 0)
    assert.equal(config.logLevel, 'warn')
    assert.deepEqual(config.firstSuperuser, { username: 'root', password: 'a-long-admin-password-1' })
  })

  it('sizes argon2 concurrency to the cores, leaving a thread of the pool free, unless PASSWORD_HASH_CONCURRENCY says', () => {
    const cores = availableParallelism()
    assert.equal(loadConfig({}).auth.passwordHashConcurrency, Math.min(cores, 3))
    assert.equal(loadConfig({ UV_THREADPOOL_SIZE: '2' }).auth.passwordHashConcurrency, 1)
    assert.equal(loadConfig({ UV_THREADPOOL_SIZE: '64' }).auth.passwordHashConcurrency, cores)
    assert.equal(loadConfig({ PASSWORD_HASH_CONCURRENCY: '7' }).auth.passwordHashConcurrency, 7)
  })

  it('derives the default issuer and audience from HOST and PORT', () => {
    assert.equal(loadConfig({ PORT: '8080' }).auth.jwt.issuer, 'http://127.0.0.1:8080')
    assert.equal(loadConfig({ HOST: 'localhost', PORT: '4000' }).auth.jwt.audience, 'http://localhost:4000')
    assert.equal(loadConfig({ HOST: '::1' }).auth.jwt.issuer, 'http://[::1]:3000')
  })

  it('lets JWT_ISSUER and JWT_AUDIENCE override them; the audience defaults to the issuer', () => {
    const issuerOnly = loadConfig({ JWT_ISSUER: 'https://auth.example.com' })
    assert.equal(issuerOnly.auth.jwt.issuer, 'https://auth.example.com')
    assert.equal(issuerOnly.auth.jwt.audience, 'https://auth.example.com')
    const both = loadConfig({ JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'https://api.example.com' })
    assert.equal(both.auth.jwt.issuer, 'https://auth.example.com')
    assert.equal(both.auth.jwt.audience, 'https://api.example.com')
  })

  it('counts empty strings as unset', () => {
    const keys = ['PORT', 'HOST', 'DATABASE_URL', 'JWT_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'ACCESS_TOKEN_EXPIRE_MINUTES',
      'TOKEN_RATE_LIMIT', 'FIRST_SUPERUSER', 'FIRST_SUPERUSER_PASSWORD', 'LOG_LEVEL', 'NODE_ENV']
    const config = loadConfig(Object.fromEntries(keys.map(key => [key, ''])))
    assert.deepEqual(config, loadConfig({}))
  })

  it('ignores variables it does not know', () => {
    assert.deepEqual(loadConfig({ PATH: '/usr/bin', HOME: '/root', npm_config_cache: 'x' }), loadConfig({}))
  })

  it('accepts a strong 32-byte secret in production', () => {
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET })
    assert.equal(config.production, true)
    assert.equal(config.auth.jwt.secret, STRONG_SECRET)
  })

  it('accepts a default admin password outside production', () => {
    const config = loadConfig({ FIRST_SUPERUSER: 'admin', FIRST_SUPERUSER_PASSWORD: 'changethis' })
    assert.deepEqual(config.firstSuperuser, { username: 'admin', password: 'changethis' })
  })

  const refused: Array<{ name: string, env: Record<string, string>, message: RegExp }> = [
    { name: 'a JWT_SECRET of 31 bytes', env: { JWT_SECRET: 's'.repeat(31) }, message: /JWT_SECRET/ },
    { name: 'a short JWT_SECRET in production', env: { NODE_ENV: 'production', JWT_SECRET: 'short' }, message: /JWT_SECRET/ },
    { name: 'a low-entropy 40-character JWT_SECRET in production', env: { NODE_ENV: 'production', JWT_SECRET: 'a'.repeat(40) }, message: /JWT_SECRET/ },
    { name: 'a repeated-word JWT_SECRET in production', env: { NODE_ENV: 'production', JWT_SECRET: 'secret'.repeat(8) }, message: /JWT_SECRET/ },
    { name: "FIRST_SUPERUSER_PASSWORD 'changethis' in production", env: { NODE_ENV: 'production', FIRST_SUPERUSER: 'admin', FIRST_SUPERUSER_PASSWORD: 'changethis' }, message: /FIRST_SUPERUSER_PASSWORD/ },
    { name: "FIRST_SUPERUSER_PASSWORD 'ChangeThis' in production", env: { NODE_ENV: 'production', FIRST_SUPERUSER: 'admin', FIRST_SUPERUSER_PASSWORD: 'ChangeThis' }, message: /FIRST_SUPERUSER_PASSWORD/ },
    { name: 'FIRST_SUPERUSER without a password', env: { FIRST_SUPERUSER: 'root' }, message: /FIRST_SUPERUSER/ },
    { name: 'FIRST_SUPERUSER_PASSWORD without a user', env: { FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1' }, message: /FIRST_SUPERUSER/ },
    { name: "PORT 'abc'", env: { PORT: 'abc' }, message: /PORT/ },
    { name: 'PORT 70000', env: { PORT: '70000' }, message: /PORT/ },
    { name: 'PORT -1', env: { PORT: '-1' }, message: /PORT/ },
    { name: 'PORT 3000.5 (not truncated to 3000)', env: { PORT: '3000.5' }, message: /PORT/ },
    { name: "PORT '1e3' (not read as port 1)", env: { PORT: '1e3' }, message: /PORT/ },
    { name: "PORT 'true' (not read as port 1)", env: { PORT: 'true' }, message: /PORT/ },
    { name: 'ACCESS_TOKEN_EXPIRE_MINUTES 0', env: { ACCESS_TOKEN_EXPIRE_MINUTES: '0' }, message: /ACCESS_TOKEN_EXPIRE_MINUTES/ },
    { name: 'ACCESS_TOKEN_EXPIRE_MINUTES 1.5 (not truncated to 1)', env: { ACCESS_TOKEN_EXPIRE_MINUTES: '1.5' }, message: /ACCESS_TOKEN_EXPIRE_MINUTES/ },
    { name: "ACCESS_TOKEN_EXPIRE_MINUTES 'fifteen'", env: { ACCESS_TOKEN_EXPIRE_MINUTES: 'fifteen' }, message: /ACCESS_TOKEN_EXPIRE_MINUTES/ },
    { name: 'REFRESH_TOKEN_EXPIRE_DAYS 0', env: { REFRESH_TOKEN_EXPIRE_DAYS: '0' }, message: /REFRESH_TOKEN_EXPIRE_DAYS/ },
    { name: 'TOKEN_RATE_LIMIT -1', env: { TOKEN_RATE_LIMIT: '-1' }, message: /TOKEN_RATE_LIMIT/ },
    { name: 'a mysql DATABASE_URL', env: { DATABASE_URL: 'mysql://localhost/app' }, message: /DATABASE_URL/ },
    { name: 'PASSWORD_HASH_CONCURRENCY 0', env: { PASSWORD_HASH_CONCURRENCY: '0' }, message: /PASSWORD_HASH_CONCURRENCY/ },
    { name: 'UV_THREADPOOL_SIZE 0', env: { UV_THREADPOOL_SIZE: '0' }, message: /UV_THREADPOOL_SIZE/ },
    { name: "LOG_LEVEL 'loud'", env: { LOG_LEVEL: 'loud' }, message: /LOG_LEVEL/ },
    { name: "NODE_ENV 'staging'", env: { NODE_ENV: 'staging' }, message: /NODE_ENV/ }
  ]
  for (const { name, env, message } of refused) {
    it(`throws a ConfigError for ${name}`, () => refuses(env, message))
  }

  it('names every bad key at once', () => refuses({ PORT: 'abc', LOG_LEVEL: 'loud' }, /PORT[\s\S]*LOG_LEVEL|LOG_LEVEL[\s\S]*PORT/))

  it('never puts a secret in its error messages', () => {
    const cases = [
      { JWT_SECRET: 'tiny-secret-value' },
      { NODE_ENV: 'production', JWT_SECRET: 'z'.repeat(40) },
      { NODE_ENV: 'production', FIRST_SUPERUSER: 'admin', FIRST_SUPERUSER_PASSWORD: 'changethis' }
    ]
    for (const env of cases) {
      const secret = env.JWT_SECRET ?? env.FIRST_SUPERUSER_PASSWORD ?? ''
      assert.throws(() => loadConfig(env), (error: Error) => {
        assert.equal(error.message.includes(secret), false, error.message)
        return true
      })
    }
  })
})

/** The message loadConfig refuses `env` with. */
function refusal (env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return error.message
  }
  assert.fail(`accepted ${JSON.stringify(env)}`)
}

const patterned = Object.entries(EnvSchema.properties as Record<string, { pattern?: string, description?: string }>)
  .filter(([, schema]) => typeof schema.pattern === 'string')

describe('a value that does not match its pattern', () => {
  it('is refused in words for every patterned variable: the variable and its description, never the regular expression', () => {
    assert.deepEqual(patterned.map(([name]) => name).sort(), ['CORS_ORIGINS', 'DATABASE_URL', 'MAIL_FROM', 'PUBLIC_URL', 'REDIS_URL', 'SMTP_URL', 'WEBHOOK_EVENTS', 'WEBHOOK_SECRET', 'WEBHOOK_URL'])
    for (const [name, schema] of patterned) {
      assert.ok(schema.description !== undefined && schema.description.length > 10, `${name} has a description`)
      // A value no pattern of these accepts: no scheme, no @.
      const message = refusal({ [name]: 'nonsense value' })
      assert.ok(message.includes(`${name}: expected ${schema.description}`), message)
      assert.ok(!message.includes(schema.pattern!), `no regular expression in: ${message}`)
      assert.doesNotMatch(message, /must match|match pattern|\^|\$'/, message)
    }
  })

  it('says so for CORS_ORIGINS, as an example of the sentence', () => {
    assert.equal(refusal({ CORS_ORIGINS: 'app.example.com' }), 'invalid configuration: CORS_ORIGINS: expected comma-separated origins, e.g. https://app.example.com')
  })

  it("refuses CORS_ORIGINS='*' with its own sentence, alone or in a list", () => {
    for (const value of ['*', ' * ', 'https://app.example.com,*', '*, https://app.example.com']) {
      assert.equal(refusal({ CORS_ORIGINS: value }), "invalid configuration: CORS_ORIGINS: '*' is not allowed: list the origins, as credentials are allowed", value)
    }
    assert.deepEqual(loadConfig({ CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' }).corsOrigins, ['https://app.example.com', 'https://admin.example.com'])
  })
})

describe('.env.example', () => {
  const example = readFileSync(fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../.env.example' : '../../.env.example', import.meta.url)), 'utf8')
  /** The variables the template names, set or commented out (`# NAME=`). */
  const listed = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map(match => match[1]))

  it('lists every variable of EnvSchema', () => {
    const missing = Object.keys(EnvSchema.properties).filter(name => !listed.has(name))
    assert.deepEqual(missing, [], `missing from .env.example: ${missing.join(', ')}`)
  })

  it('lists no variable the server does not read', () => {
    const unknown = [...listed].filter(name => !(name! in EnvSchema.properties))
    assert.deepEqual(unknown, [], `in .env.example but not in EnvSchema: ${unknown.join(', ')}`)
  })

  it('is accepted as it is, and with every line uncommented but the secrets', () => {
    const values = (text: string) => Object.fromEntries([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=(\S*)/gm)]
      .map(match => [match[1]!, match[2]!]))
    const all = values(example)
    // Empty values count as unset; the admin pair goes together, and a placeholder secret is not one.
    delete all.FIRST_SUPERUSER
    delete all.NODE_ENV
    assert.doesNotThrow(() => loadConfig(all), JSON.stringify(all))
  })
})

describe('the configuration in the app', () => {
  it('creates FIRST_SUPERUSER at start: they log in with every scope, admin included', async (t) => {
    const app = await build(t, { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1' })
    const tokens = await login(app, 'root', 'a-long-admin-password-1')
    assert.deepEqual(tokens.scope.split(' ').sort(), ['admin', 'items', 'me'])
    const me = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
    assert.equal(me.statusCode, 200)
    assert.equal(me.json<{ is_admin: boolean }>().is_admin, true)
    const users = await app.inject({ url: '/users', headers: bearer(tokens.access_token) })
    assert.equal(users.statusCode, 200)
  })

  it('gives an ordinary user no admin scope (the superuser check is not vacuous)', async (t) => {
    const app = await build(t, { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1' })
    const { tokens } = await registerAndLogin(app)
    assert.deepEqual(tokens.scope.split(' ').sort(), ['items', 'me'])
  })

  it('signs tokens with JWT_ISSUER, JWT_AUDIENCE and ACCESS_TOKEN_EXPIRE_MINUTES', async (t) => {
    const app = await build(t, {
      JWT_SECRET: STRONG_SECRET,
      JWT_ISSUER: 'https://auth.example.com',
      JWT_AUDIENCE: 'https://api.example.com',
      ACCESS_TOKEN_EXPIRE_MINUTES: '5'
    })
    const { tokens } = await registerAndLogin(app)
    assert.equal(tokens.expires_in, 300)
    const claims = decodeJwt(tokens.access_token)
    assert.equal(claims.iss, 'https://auth.example.com')
    assert.equal(claims.aud, 'https://api.example.com')
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 300)
    assert.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
  })

  it('signs HS256 tokens when JWT_SECRET is set, and EdDSA ones with a kid otherwise', async (t) => {
    const hs = await build(t, { JWT_SECRET: STRONG_SECRET })
    const eddsa = await build(t)
    const hsToken = (await registerAndLogin(hs)).tokens.access_token
    const edToken = (await registerAndLogin(eddsa)).tokens.access_token
    assert.equal(decodeProtectedHeader(hsToken).alg, 'HS256')
    assert.equal(decodeProtectedHeader(edToken).alg, 'EdDSA')
    assert.equal(typeof decodeProtectedHeader(edToken).kid, 'string')
    assert.deepEqual((await hs.inject('/.well-known/jwks.json')).json(), { keys: [] })
  })

  it('does not let FIRST_SUPERUSER in with a wrong password', async (t) => {
    const app = await build(t, { FIRST_SUPERUSER: 'root', FIRST_SUPERUSER_PASSWORD: 'a-long-admin-password-1' })
    await assert.rejects(login(app, 'root', PASSWORD), /login failed: 400/)
  })
})
