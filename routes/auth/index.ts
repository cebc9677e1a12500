import type { FastifyPluginAsync } from 'fastify'
import { errorHandler } from '../../src/http/error-handler.js'
import textSafety from '../../plugins/text-safety.js'
import validation from '../../plugins/validation.js'
import authorize from './authorize.js'
import social from './social.js'
import identities from '../users/identities.js'
import oauth from './oauth.js'
import register from './register.js'
import logout from './logout.js'
import me from '../users/me.js'
import mfa from '../users/mfa.js'
import recovery from './recovery.js'

export interface AuthRoutesOptions {
  /** requests per minute per client address on /token, /token/revoke, /register and the e-mail routes (0: off; needs @fastify/rate-limit) */
  rateLimit?: number
}

/**
 * The self-service auth endpoints, mountable under any prefix: POST /token, /token/revoke,
 * GET/POST /authorize (authorization code with PKCE),
 * /register, /logout, and the account routes /users/me and below (two-factor authentication
 * included: /users/me/mfa). Needs the auth plugin
 * registered first. With the mail plugin (plugins/mail.ts) registered too, also account recovery
 * and e-mail verification: /forgot-password, /reset-password, /request-verify-token, /verify.
 * The admin routes (routes/users/admin.ts) and the well-known documents (routes/well-known.ts)
 * are separate plugins.
 */
const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (fastify, options) => {
  fastify.setErrorHandler(errorHandler)
  // For the RFC 8414 metadata (routes/well-known.ts), which lives at the root whatever this prefix is.
  fastify.authEndpoints.prefix = fastify.prefix.replace(/\/+$/, '') // `prefix: '/auth/'` serves /auth/token
  await fastify.register(textSafety) // mounted apps too: no NUL or lone surrogate reaches the store
  // Mounted apps too: bodies validated strictly (an unknown member is a 400, never dropped; no coercion).
  await fastify.register(validation)
  const rateLimit = options.rateLimit ?? 0
  await fastify.register(oauth, { rateLimit })
  // The authorization endpoint of the authorization-code flow (issue 23): pages, not JSON.
  await fastify.register(authorize, { rateLimit })
  // Social login (issue 23): the login page's provider links and their callbacks.
  await fastify.register(social, { rateLimit })
  await fastify.register(register, { rateLimit })
  await fastify.register(logout)
  await fastify.register(me)
  await fastify.register(mfa) // /users/me/mfa and below (issue 21)
  await fastify.register(identities) // /users/me/identities (issue 23)
  if (fastify.hasDecorator('authRecovery')) await fastify.register(recovery, { rateLimit })
}

export default authRoutes
