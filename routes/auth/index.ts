import type { FastifyPluginAsync } from 'fastify'
import oauth from './oauth.js'
import register from './register.js'
import logout from './logout.js'
import me from '../users/me.js'

export interface AuthRoutesOptions {
  /** requests per minute per client address on /token, /token/revoke and /register (0: off; needs @fastify/rate-limit) */
  rateLimit?: number
}

/**
 * The self-service auth endpoints, mountable under any prefix: POST /token, /token/revoke,
 * /register, /logout, and the account routes /users/me and below. Needs the auth plugin
 * registered first. The admin routes (routes/users/admin.ts) and the well-known documents
 * (routes/well-known.ts) are separate plugins.
 */
const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (fastify, options) => {
  const rateLimit = options.rateLimit ?? 0
  await fastify.register(oauth, { rateLimit })
  await fastify.register(register, { rateLimit })
  await fastify.register(logout)
  await fastify.register(me)
}

export default authRoutes
