/*
 * Type tests of the public API, as an app that installed the package sees it: imported by the
 * package's name, no import of @fastify/jwt, strict, no skipLibCheck. Each `@ts-expect-error`
 * line must be an error (tsc fails on one that is not). `npm run test:types`.
 */
import Fastify, { type FastifyRequest } from 'fastify'
import auth, {
  adminRoutes, currentUser, authRoutes, createSqlStore, wellKnownRoutes,
  type AuthPluginOptions, type AuthRoutesOptions, type AuthStore, type AuthUser, type AuthenticatedUser, type ScopeDefinition
} from 'fastify-oauth2-jwt'
import { TokenResponse, UserPublic } from 'fastify-oauth2-jwt/schemas'
import { Value } from '@sinclair/typebox/value'

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const assertType = <T extends true>(_: T) => {}
/** Marks a value used (this file is type-checked, never run). */
const use = (..._: unknown[]) => {}

const app = Fastify()

// --- plugin options: checked at compile time
await app.register(auth, {
  jwt: { secret: 'x'.repeat(32), issuer: 'https://api.example.com' },
  accessTokenTtlSeconds: 600,
  scopes: { reports: { description: 'Read reports' }, audit: { description: 'Audit', adminOnly: true } }
})
await app.register(auth, {})
// @ts-expect-error a lifetime is a number of seconds
await app.register(auth, { accessTokenTtlSeconds: 'x' })
// @ts-expect-error no such option
await app.register(auth, { accessTokenTTL: 600 })
// @ts-expect-error jwt.secret is a string
await app.register(auth, { jwt: { secret: 32 } })
// @ts-expect-error a scope needs a description
await app.register(auth, { scopes: { reports: {} } })
// @ts-expect-error a store implements AuthStore
await app.register(auth, { store: { users: {} } })

const options: AuthPluginOptions = { passwordMinLength: 12 }
const scope: ScopeDefinition = { description: 'Read reports' }
use(options)
use(scope)

// --- the route plugins
await app.register(authRoutes, { prefix: '/auth', rateLimit: 30 })
await app.register(adminRoutes, { prefix: '/auth' })
await app.register(wellKnownRoutes)
const routesOptions: AuthRoutesOptions = { rateLimit: 0 }
use(routesOptions)
// @ts-expect-error rateLimit is requests per minute
await app.register(authRoutes, { rateLimit: 'many' })

// --- app.authenticate: declared, an onRequest hook taking a request
assertType<Equal<typeof app.authenticate, (request: FastifyRequest) => Promise<void>>>(true)
// @ts-expect-error authenticate takes a request
use(app.authenticate(123))

// --- request.user (null where no protection ran), currentUser(request), and config.scopes on routes
app.get('/reports', { config: { scopes: ['reports'] } }, async (request) => {
  assertType<Equal<typeof request.user, AuthenticatedUser | null>>(true)
  // @ts-expect-error request.user may be null: read it checked (currentUser) or narrow it
  use(request.user.username)
  const user = currentUser(request)
  assertType<Equal<typeof user, AuthenticatedUser>>(true)
  const username: string = user.username
  const scopes: string[] = user.token_scopes
  assertType<Equal<Omit<typeof user, 'metadata'>, Omit<AuthUser, 'metadata'>>>(true)
  assertType<Equal<typeof user.token_scopes, string[]>>(true)
  assertType<Equal<typeof user.email, string | null>>(true)
  // @ts-expect-error the public user has no password hash
  use(user.password_hash)
  // @ts-expect-error a username is a string
  const wrong: number = user.username
  if (request.user !== null) use(request.user.id)
  return { username, scopes, wrong }
})
app.get('/mine', { onRequest: [app.authenticate], config: { scopes: [] } }, async (request) => currentUser(request).id)
// @ts-expect-error config.scopes is a list of scope names
app.get('/bad', { config: { scopes: 'reports' } }, async () => 'no')
// @ts-expect-error scope names are strings
app.get('/bad', { config: { scopes: [1] } }, async () => 'no')

// --- the services the plugin decorates
const { issuer }: { issuer: string } = app.authIssuer
use(issuer)
assertType<Equal<ReturnType<typeof app.authScopes.allowedFor>, string[]>>(true)

// --- the schemas: TypeBox values and their static types under one name
const response: TokenResponse = { access_token: 'a', token_type: 'bearer', expires_in: 900, refresh_token: 'r', scope: 'me' }
// @ts-expect-error token_type is the literal 'bearer'
const notBearer: TokenResponse = { ...response, token_type: 'mac' }
use(notBearer)
const user: unknown = JSON.parse('{}')
if (Value.Check(UserPublic, user)) {
  const name: string = user.username
  use(name)
}

// --- a store of one's own implements the AuthStore interface
declare const db: Parameters<typeof createSqlStore>[0]
const store: AuthStore = createSqlStore(db)
use(store)
