/*
 * A Fastify app of its own that extends fastify-oauth2-jwt without forking it:
 * - users carry the app's own fields (`userMetadata`: tenant, plan), validated at /auth/register
 *   and typed on `request.user.metadata`;
 * - a hook refuses sign-ups to a closed tenant, another puts the tenant in every access token;
 * - a listener of `user.created` writes the new user's row to the app's own table (`profiles`,
 *   migrated by the app's own Kysely Migrator on the same SQLite database);
 * - the mail plugin serves password reset and e-mail verification under /auth, the well-known
 *   routes the RFC 8414 metadata; the app's route `GET /workspace` reads the tenant.
 */
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import auth, {
  authRoutes, createDatabase, currentUser, createSqlMailStore, createSqlStore, mailPlugin, migrateToLatest, wellKnownRoutes,
  type AuthTokenClaims, type AuthUserMetadata
} from 'fastify-oauth2-jwt'
import { migrateAppTables, type AppTables } from './profiles.js'

// The app's types, merged into the package's: `request.user.metadata` is AuthUserMetadata, and
// an access token's claims include AuthTokenClaims (src/type-checks.ts shows what they refuse).
declare module 'fastify-oauth2-jwt' {
  interface AuthTokenClaims { tenant: string }
  interface AuthUserMetadata { tenant: string, plan?: string }
}

const port = Number(process.env.PORT ?? 3000)
const issuer = `http://127.0.0.1:${port}`
/** Tenants that take no new sign-ups. */
const CLOSED_TENANTS = new Set(['initech'])

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

// One SQLite file for the plugin's tables and the app's: each side migrates its own, recorded in
// its own migration table (the plugin's `auth_migration`, the app's `kysely_migration`).
const { db } = createDatabase(process.env.DATABASE_URL ?? 'sqlite:./data/app.db')
await migrateToLatest(db)
await migrateAppTables(db)
const appDb = db.withTables<AppTables>()
// Registered before the plugins, so the database is closed after them.
app.addHook('onClose', async () => { await db.destroy() })

await app.register(auth, {
  store: createSqlStore(db),
  // No jwt.secret: tokens are signed with Ed25519 keys kept in the database (/.well-known/jwks.json).
  jwt: { issuer },
  // The app's own fields on the user: required at /auth/register, changed by PATCH /auth/users/me.
  userMetadata: Type.Object({ tenant: Type.String({ minLength: 1, maxLength: 64 }), plan: Type.Optional(Type.String({ maxLength: 32 })) }, { additionalProperties: false }),
  hooks: {
    // Before any user is stored (/auth/register, the CLI, an import): throw to refuse. At
    // /auth/register the message is the 400's, and nothing is stored.
    beforeUserCreated: ({ metadata }) => {
      const tenant = metadata?.tenant
      if (typeof tenant === 'string' && CLOSED_TENANTS.has(tenant)) throw new Error(`Sign-ups to ${tenant} are closed`)
    },
    // In every access token, at login and at each refresh: { …, "tenant": "acme" }. The hook's
    // `user.metadata` is typed `unknown` and its result is not checked against AuthTokenClaims
    // by the package (yet): the cast and the return type say what the app stores and signs.
    accessTokenClaims: ({ user }): AuthTokenClaims => ({ tenant: (user.metadata as AuthUserMetadata | undefined)?.tenant ?? 'none' })
  }
})

// After the user's transaction committed, on every path that creates one; the request never
// waits for this, and an error here is logged, never the request's.
app.authEvents.on('user.created', async (event) => {
  if (event.user_id === null) return
  const user = await app.authAccounts.record(event.user_id)
  const metadata = user?.metadata as AuthUserMetadata | null | undefined
  await appDb.insertInto('profiles')
    .values({ user_id: event.user_id, tenant: metadata?.tenant ?? 'none', plan: metadata?.plan ?? 'free', created_at: event.at })
    .onConflict(oc => oc.column('user_id').doNothing())
    .execute()
})

// Password reset and e-mail verification: its tokens and outbox in the same database. Without
// SMTP_URL, messages are written as .eml files to OUTBOX_DIR; their links start with the issuer
// and the prefix of authRoutes: http://127.0.0.1:3000/auth/reset-password?token=…
await app.register(mailPlugin, {
  store: createSqlMailStore(db),
  smtpUrl: process.env.SMTP_URL,
  outboxDir: process.env.OUTBOX_DIR ?? './data/outbox',
  worker: { intervalMs: 500 }
})

// /auth/register, /auth/token, /auth/users/me, and with the mail plugin /auth/forgot-password,
// /auth/reset-password, /auth/request-verify-token, /auth/verify.
await app.register(authRoutes, { prefix: '/auth' })
// /.well-known/oauth-authorization-server (naming /auth/token) and /.well-known/jwks.json.
await app.register(wellKnownRoutes)

// The app's own route: any access token with the `me` scope; the tenant is typed by the merge above.
app.get('/workspace', { config: { scopes: ['me'] } }, async (request) => {
  const user = currentUser(request)
  const tenant: string = user.metadata.tenant
  const profile = await appDb.selectFrom('profiles').selectAll().where('user_id', '=', user.id).executeTakeFirst()
  return { tenant, plan: user.metadata.plan ?? 'free', profile: profile ?? null }
})

// Ctrl-C or a process manager's SIGTERM: finish the requests in flight, then close the database.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().catch(err => app.log.error(err)) })
await app.listen({ port, host: '127.0.0.1' })
