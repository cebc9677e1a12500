import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { createSigner, createVerifier } from 'fast-jwt'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { createDatabase } from '../src/db/connection.js'
import { migrateToLatest } from '../src/db/migrations.js'
import { insufficientScope, invalidToken, missingToken } from '../src/errors.js'
import { OAuthError, TokenResponse, type AccessTokenClaims } from '../src/schemas/token.js'
import { addSharedSchemas, HttpError } from '../src/schemas/common.js'
import { UserPublic } from '../src/schemas/user.js'
import type { Scope } from '../src/schemas/scopes.js'
import type { AuthUser } from '../src/schemas/user.js'
import { createAuthService } from '../src/services/auth.js'
import { createHmacKeyRing, createStoredKeyRing, type KeyRing } from '../src/services/keys.js'
import { createPasswordHasher, defaultHashConcurrency } from '../src/services/passwords.js'
import { createSqlStore } from '../src/services/sql-store.js'
import { AUTH_STORE_METHODS, type AuthStore } from '../src/services/store.js'

/** Options checked at register time; `store` is checked apart (it holds functions). */
export const AuthOptionsSchema = Type.Object({
  jwt: Type.Object({
    secret: Type.Optional(Type.String({ minLength: 32, description: 'HS256 secret; without it, EdDSA keys kept in the store' })),
    issuer: Type.String({ minLength: 1, default: 'urn:fastify-oauth2-jwt' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: 'default: the issuer' }))
  }, { default: {} }),
  accessTokenTtlSeconds: Type.Integer({ minimum: 1, default: 900 }),
  refreshTokenTtlSeconds: Type.Integer({ minimum: 1, default: 14 * 86400 }),
  sessionIdleSeconds: Type.Integer({ minimum: 1, default: 7 * 86400 }),
  defaultClientId: Type.String({ minLength: 1, default: 'public' }),
  passwordMinLength: Type.Integer({ minimum: 8, maximum: 64, default: 8 }),
  passwordHashConcurrency: Type.Integer({ minimum: 1, maximum: 256, default: defaultHashConcurrency(), description: 'argon2 computations at once' })
})
type AuthSettings = Static<typeof AuthOptionsSchema>
/** Every setting may be omitted (the schema's defaults apply), `jwt`'s fields too. */
export type AuthPluginOptions = Partial<Omit<AuthSettings, 'jwt'>> & {
  jwt?: Partial<AuthSettings['jwt']>
  /** where users, sessions and keys live; default: the SQL store on an in-memory SQLite */
  store?: AuthStore
}

const CLAIMS = ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'scope', 'sid', 'client_id']
const PURGE_INTERVAL_MS = 60 * 60_000
const KEY_RELOAD_INTERVAL_MS = 60_000

function checkOptions (options: AuthPluginOptions) {
  const { store, ...rest } = options
  const settings = Value.Default(AuthOptionsSchema, Value.Clone(rest)) as AuthSettings
  const errors = [...Value.Errors(AuthOptionsSchema, settings)].map(e => `${e.path} ${e.message}`)
  if (errors.length > 0) throw new Error(`auth plugin: invalid options: ${errors.join('; ')}`)
  if (store !== undefined) {
    const missing = Object.entries(AUTH_STORE_METHODS).flatMap(([part, methods]) =>
      methods.filter(m => typeof (store as unknown as Record<string, Record<string, unknown> | undefined>)[part]?.[m] !== 'function').map(m => `${part}.${m}`))
    if (missing.length > 0) throw new Error(`auth plugin: \`store\` does not implement AuthStore: missing ${missing.join(', ')}`)
  }
  return { store, settings }
}

/**
 * The auth core, mountable in any Fastify app: decorates `fastify.authenticate` (an onRequest
 * hook that also checks `config.scopes`), `fastify.authService` and `fastify.authKeys`, and
 * types `request.user`. Built on @fastify/jwt (https://github.com/fastify/fastify-jwt).
 */
const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (fastify, options) => {
  const { settings, store: givenStore } = checkOptions(options)
  let store = givenStore
  if (store === undefined) {
    const { db } = createDatabase('sqlite::memory:')
    await migrateToLatest(db)
    fastify.addHook('onClose', async () => db.destroy())
    store = createSqlStore(db)
  }

  const issuer = settings.jwt.issuer
  const audience = settings.jwt.audience ?? issuer
  // Retired keys verify for an access token's lifetime plus one reload period of every instance.
  const keys: KeyRing = settings.jwt.secret !== undefined
    ? createHmacKeyRing(settings.jwt.secret)
    : await createStoredKeyRing(store.keys, { verifyRetiredForMs: settings.accessTokenTtlSeconds * 1000 + 2 * KEY_RELOAD_INTERVAL_MS })

  // Both verifiers (request header and revocation) look keys up by the token header's kid.
  const keyForKid = async (kid: unknown) => {
    const key = await keys.verificationKey(kid)
    if (key === undefined) throw new Error('unknown key id')
    return key
  }

  const signOptions = { algorithm: keys.algorithm, iss: issuer, aud: audience, expiresIn: `${settings.accessTokenTtlSeconds}s`, header: { alg: keys.algorithm, typ: 'at+jwt' } }
  // The algorithm, typ, iss and aud are pinned, as exact strings (RFC 8725; no RegExp, see SECURITY.md).
  const verifyOptions = { algorithms: [keys.algorithm], allowedIss: issuer, allowedAud: audience, checkTyp: 'at+jwt', requiredClaims: CLAIMS }
  await fastify.register(fastifyJwt, {
    secret: keys.algorithm === 'HS256'
      ? keys.signingKey().key
      : {
          private: async () => keys.signingKey().key,
          public: async (_request: FastifyRequest, token: unknown) => keyForKid((token as { header?: { kid?: unknown } }).header?.kid)
        },
    sign: signOptions,
    // complete: the key callback needs the header's kid
    decode: { complete: true },
    verify: verifyOptions
  })
  // One signer per signing key, made when the key changes (rotation): @fastify/jwt's sign()
  // with a key option builds a new fast-jwt signer for every token, which costs more than signing.
  let signer: { kid: string | undefined, sign: (claims: object) => string } | undefined
  const signerFor = ({ key, kid }: { key: string, kid?: string }) => {
    if (signer === undefined || signer.kid !== kid) {
      signer = { kid, sign: createSigner({ ...signOptions, key, ...kid === undefined ? {} : { kid } }) }
    }
    return signer.sign
  }

  // For tokens that arrive outside the Authorization header (revocation), with the same pins.
  const verifyToken = createVerifier({
    ...verifyOptions,
    key: async (decoded: { header: { kid?: unknown } }) => keyForKid(decoded.header.kid)
  })

  const service = createAuthService({
    store,
    settings,
    passwords: await createPasswordHasher(settings.passwordHashConcurrency),
    verifyAccessToken: async token => verifyToken(token),
    sign: claims => signerFor(keys.signingKey())(claims)
  })

  async function authenticate (request: FastifyRequest) {
    const header = request.headers.authorization
    if (header === undefined || !/^bearer(\s|$)/i.test(header)) throw missingToken()
    let payload: unknown
    try {
      payload = await request.jwtVerify()
    } catch {
      throw invalidToken()
    }
    const user = await service.authenticate(payload)
    if (user === undefined) throw invalidToken()
    request.user = user
    const required = request.routeOptions.config.scopes
    if (required !== undefined && !required.every(s => user.token_scopes.includes(s))) throw insufficientScope(required)
  }

  // The schemas the auth routes refer to by $id, so they work without the swagger plugin.
  addSharedSchemas(fastify, [HttpError, OAuthError, TokenResponse, UserPublic])
  fastify.decorate('authenticate', authenticate)
  fastify.decorate('authService', service)
  fastify.decorate('authKeys', keys)
  fastify.decorate('authStore', store)

  const timers = [
    setInterval(() => { service.purgeSessions().catch(err => fastify.log.warn({ err }, 'session purge failed')) }, PURGE_INTERVAL_MS),
    setInterval(() => { keys.reload().catch(err => fastify.log.warn({ err }, 'key reload failed')) }, KEY_RELOAD_INTERVAL_MS)
  ]
  for (const timer of timers) timer.unref()
  fastify.addHook('onClose', async () => { for (const timer of timers) clearInterval(timer) })
  await service.purgeSessions()
}

export default fp(authPlugin, { fastify: '5.x', name: 'auth' })

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest) => Promise<void>
    authService: ReturnType<typeof createAuthService>
    authKeys: KeyRing
    authStore: AuthStore
  }
  interface FastifyContextConfig {
    /** scopes the access token must carry on this route, checked by `authenticate` */
    scopes?: Scope[]
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: Omit<AccessTokenClaims, 'iss' | 'aud' | 'exp' | 'iat'>
    user: AuthUser
  }
}
