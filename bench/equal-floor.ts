import Fastify, { type FastifySchema } from 'fastify'
import { createVerifier } from 'fast-jwt'
import { createAccessTokens } from '../src/tokens/access-tokens.js'
import { createHmacKeyRing } from '../src/tokens/keys.js'

/**
 * The equal-output floor of GET /users/me (issue 19): a bare Fastify route that does what the
 * answer itself requires and nothing else. It
 * - verifies the bearer token as the server does: one fast-jwt verifier, made at start, with
 *   src/tokens/access-tokens.ts's own `verifyOptions` (algorithm, `typ`, `iss`, `aud`, every
 *   required claim) and the server's key (HS256, the same JWT_SECRET): the server's tokens;
 * - answers with the same headers (FLOOR_HEADERS: the security headers the server sent with its
 *   own GET /users/me answer, set with the reply's headers);
 * - and a body of the same shape and size (FLOOR_BODY: that answer; per request a new object
 *   with `id` from the token's `sub`, serialised by Fastify from a response schema of plain types
 *   derived from it, as fast-json-stringify serialises the route's).
 * No logger, no hooks, no session lookup. bench/harness.ts checks that both answer byte for byte
 * alike before anything is measured. Serves on PORT until killed.
 *
 * FLOOR_BESIDE_APP=1: the same route, in a process that has also built the whole app (createApp,
 * from the server's environment, on an in-memory SQLite; never listening, never called). What the
 * app costs every request of its process just by being there (V8's inline caches and feedback in
 * code both share, such as node's streams and Fastify's request path) then counts in this floor too.
 */
const env = (name: string) => {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`equal-floor: ${name} is not set`)
  return value
}
const secret = env('JWT_SECRET')
const { verifyOptions } = createAccessTokens(createHmacKeyRing(secret), { issuer: env('FLOOR_ISSUER'), audience: env('FLOOR_AUDIENCE'), ttlSeconds: 1 })
const verify = createVerifier({ ...verifyOptions, key: secret }) as (token: string) => { sub: string }
const headers = JSON.parse(env('FLOOR_HEADERS')) as Record<string, string>
const template = JSON.parse(env('FLOOR_BODY')) as Record<string, unknown>

/** A JSON schema of plain types for a JSON value (no unions, no formats): the cheapest serialiser of that shape. */
function schemaOf (value: unknown): Record<string, unknown> {
  if (value === null) return { type: 'null' }
  if (Array.isArray(value)) return { type: 'array', items: value.length > 0 ? schemaOf(value[0]) : {} }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    return { type: 'object', properties: Object.fromEntries(entries.map(([k, v]) => [k, schemaOf(v)])), required: entries.map(([k]) => k) }
  }
  return { type: typeof value === 'number' ? 'number' : typeof value }
}

// RFC 6750 §2.1, as src/http/bearer.ts reads it.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i
const challenge = { 'www-authenticate': 'Bearer error="invalid_token"' }

const schema: FastifySchema = { response: { 200: schemaOf(template) } }
if (process.env.FLOOR_BESIDE_APP === '1') {
  const [{ createApp }, { loadConfig }] = await Promise.all([import('../src/app.js'), import('../src/config.js')])
  await createApp(loadConfig({ ...process.env, DATABASE_URL: 'sqlite::memory:' }))
}

const app = Fastify({ logger: false })
app.get('/users/me', { schema }, async (request, reply) => {
  const token = BEARER.exec(request.headers.authorization ?? '')?.[1]
  let sub: string
  try {
    if (token === undefined) throw new Error('no bearer token')
    sub = verify(token).sub
  } catch {
    return reply.code(401).headers(challenge).send()
  }
  reply.headers(headers)
  return { ...template, id: sub }
})
app.get('/ready', async () => ({ ok: true }))

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
// Closed on SIGTERM so that `node --cpu-prof` writes its profile.
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
