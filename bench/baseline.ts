import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'

/**
 * The floor of "verify a token per request" on this stack: one route that verifies an HS256
 * bearer JWT with @fastify/jwt and returns its `sub`. Serves on PORT until killed.
 */
const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: process.env.JWT_SECRET ?? '', verify: { algorithms: ['HS256'] } })
app.get('/me', async (request) => {
  const payload: { sub: string } = await request.jwtVerify()
  return { sub: payload.sub }
})
app.get('/token', async () => ({ token: app.jwt.sign({ sub: 'baseline-user' } as never) }))
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
