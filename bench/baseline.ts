import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { openSqlite } from '../src/db/sqlite.js'

/**
 * The floor of "verify a token per request" on this stack: one route that verifies an HS256
 * bearer JWT with @fastify/jwt and returns its `sub`. Serves on PORT until killed.
 *
 * With LOOKUP_DATABASE (the server's SQLite file), a second route adds what the product must do
 * on top: one indexed session-and-user lookup, straight on the driver with a prepared
 * statement. That is the floor of "verify a token and check its session" on this stack.
 */
const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: process.env.JWT_SECRET ?? '', verify: { algorithms: ['HS256'] } })
app.get('/me', async (request) => {
  const payload: { sub: string } = await request.jwtVerify()
  return { sub: payload.sub }
})
app.get('/token', async () => ({ token: app.jwt.sign({ sub: 'baseline-user' } as never) }))

const lookupDatabase = process.env.LOOKUP_DATABASE
if (lookupDatabase !== undefined) {
  const db = openSqlite(lookupDatabase)
  const sql = 'select sessions.*, users.username, users.email, users.full_name, users.disabled, users.is_admin, users.created_at as user_created_at ' +
    'from sessions inner join users on users.id = sessions.user_id where sessions.id = ?'
  app.get('/me-with-lookup', async (request, reply) => {
    const payload: { sub: string, sid: string } = await request.jwtVerify()
    const [row] = db.prepare(sql).all([payload.sid]) as Array<{ user_id: string, ended_at: number | null }>
    if (row === undefined || row.user_id !== payload.sub || row.ended_at !== null) return reply.code(401).send()
    return { sub: payload.sub }
  })
  app.addHook('onClose', async () => db.close())
}

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
