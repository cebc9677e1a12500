import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HttpError } from '../../src/schemas/common.js'
import { UserCreate, UserPublic } from '../../src/schemas/user.js'
import { perAddressLimit } from './token.js'

/** POST /register: creates an account (409 when the username or e-mail is taken, ignoring case). */
const register: FastifyPluginAsyncTypebox<{ rateLimit: number }> = async (fastify, options) => {
  // With the auth plugin's `userMetadata`: a `metadata` member validated by the app's schema
  // (required when that schema requires anything), stored with the user.
  const metadata = fastify.authCore.userMetadata
  const body = metadata === undefined
    ? UserCreate
    : Type.Object({ ...UserCreate.properties, metadata: (metadata.required ?? []).length > 0 ? metadata : Type.Optional(metadata) }, { additionalProperties: false })
  fastify.post('/register', {
    config: { rateLimit: perAddressLimit(options.rateLimit) },
    schema: {
      tags: ['auth'],
      operationId: 'register',
      summary: 'Register a user',
      description: 'Passwords: 8 to 1024 characters, any composition, not one of the most common passwords.',
      body,
      response: {
        201: Type.Ref(UserPublic),
        400: Type.Ref(HttpError, { description: 'Invalid input or password refused by the policy' }),
        409: Type.Ref(HttpError, { description: 'Username or e-mail already registered' }),
        429: Type.Ref(HttpError, { description: 'Too many requests' })
      }
    }
  }, async (request, reply) => {
    const user = await fastify.authAccounts.register(request.body as UserCreate & { metadata?: Record<string, unknown> }, 'register', { ip: request.ip, user_agent: request.headers['user-agent'] ?? null })
    request.log.info({ event: 'register', userId: user.id }, 'user registered')
    return reply.code(201).send(user)
  })
}

export default register
