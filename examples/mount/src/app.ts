/*
 * A Fastify app of its own that mounts fastify-oauth2-jwt: the auth plugin with a scope the app
 * declares, the auth routes under /auth, and a route of the app protected by that scope.
 */
import Fastify from 'fastify'
import auth, { authRoutes, currentUser } from 'fastify-oauth2-jwt'

const port = Number(process.env.PORT ?? 3000)
const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

// No `store`: users, sessions and signing keys live in an in-memory SQLite (gone at exit).
// For a real database: createDatabase('sqlite:./data/auth.db') or 'postgres://…',
// migrateToLatest(db), then `store: createSqlStore(db)` (all three exported by the package).
await app.register(auth, {
  jwt: { issuer: `http://127.0.0.1:${port}` },
  scopes: { reports: { description: 'Read reports' } }
})

// POST /auth/register, /auth/token, /auth/token/revoke, /auth/logout, GET /auth/users/me, …
await app.register(authRoutes, { prefix: '/auth' })

// A token without the `reports` scope gets 403 with WWW-Authenticate: Bearer error="insufficient_scope".
// `request.user` is typed as possibly null (it is, on routes nothing protects): currentUser() reads it checked.
app.get('/reports', { config: { scopes: ['reports'] } }, async (request) => {
  const reader: string = currentUser(request).username
  return { reader, reports: [{ id: 1, title: 'Quarterly figures' }] }
})

// Ctrl-C or a process manager's SIGTERM: finish the requests in flight, then close the store.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { app.close().catch(err => app.log.error(err)) })
await app.listen({ port, host: '127.0.0.1' })
