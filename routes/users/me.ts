import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { PolicyError } from '../../src/errors.js'
import { requestContext } from '../../src/http/event-context.js'
import { HttpError } from '../../src/schemas/common.js'
import { SessionPage, SessionPublic } from '../../src/schemas/session.js'
import { PasswordChange, UserPublic, UserUpdateMe } from '../../src/schemas/user.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/** /users/me: your own account, password and sessions (scope `me`). */
const me: FastifyPluginAsyncTypebox = async (fastify) => {
  const { authAccounts: accounts, authSessions: sessions } = fastify
  const config = { scopes: ['me'] }

  fastify.get('/users/me', {
    config,
    schema: { tags: ['users'], operationId: 'readUserMe', summary: 'Your account', response: { 200: Type.Ref(UserPublic) } }
  }, async (request) => currentUser(request))

  // With the auth plugin's `userMetadata`: `metadata` replaces the stored one, validated by the app's schema.
  const metadata = fastify.authCore.userMetadata
  const updateBody = metadata === undefined ? UserUpdateMe : Type.Object({ ...UserUpdateMe.properties, metadata: Type.Optional(metadata) }, { additionalProperties: false, examples: [{}] })
  fastify.patch('/users/me', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'updateUserMe',
      summary: 'Update your e-mail or full name',
      description: 'A new `email` needs `current_password` (400 without it or with a wrong one; wrong ones count toward the ' +
        'account\'s login lock). The new address gets a verification e-mail, the old one a notice of the change.',
      body: updateBody,
      response: {
        200: Type.Ref(UserPublic, { description: 'The account as it is now' }),
        400: Type.Ref(HttpError, { description: 'Invalid input, or a missing or wrong current_password' }),
        409: Type.Ref(HttpError, { description: 'The e-mail address belongs to another account' }),
        429: Type.Ref(HttpError, { description: 'Too many wrong passwords for this account (see Retry-After)' })
      }
    }
  }, async (request) => accounts.updateProfile(currentUser(request).id, request.body as UserUpdateMe & { metadata?: Record<string, unknown> }, requestContext(request)))

  fastify.put('/users/me/password', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'changePassword',
      summary: 'Change your password',
      description: 'Needs the current password. Ends every other session of yours; this one stays.',
      body: PasswordChange,
      response: {
        204: Type.Null({ description: 'Changed' }),
        400: Type.Ref(HttpError, { description: 'A wrong current password, or a new one the policy refuses' }),
        429: Type.Ref(HttpError, { description: 'Too many wrong passwords for this account (see Retry-After)' })
      }
    }
  }, async (request, reply) => {
    const { current_password: current, new_password: next } = request.body
    const user = currentUser(request)
    try {
      await accounts.changePassword(user, current, next, user.session_id, requestContext(request))
    } catch (error) {
      if (error instanceof PolicyError) request.log.info({ event: 'password-change', outcome: 'failure', userId: user.id, reason: error.message }, 'password change refused')
      throw error
    }
    request.log.info({ event: 'password-change', outcome: 'success', userId: user.id }, 'password changed')
    return reply.code(204).send(null)
  })

  fastify.get('/users/me/sessions', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'listMySessions',
      summary: 'Your active sessions',
      description: 'Newest first, a page at a time (`limit` ≤ 100, default 50). A user has at most `MAX_SESSIONS_PER_USER` (100) live sessions: a new login beyond it ends the oldest.',
      querystring: SessionPage,
      response: { 200: Type.Array(Type.Ref(SessionPublic), { description: 'A page of your sessions' }) }
    }
  }, async (request) => {
    const { id, session_id: current } = currentUser(request)
    return await sessions.list(id, current, request.query)
  })

  fastify.delete('/users/me/sessions', {
    config,
    schema: { tags: ['users'], operationId: 'endAllMySessions', summary: 'Log out everywhere: end all your sessions', response: { 204: Type.Null() } }
  }, async (request, reply) => {
    await sessions.endAll(currentUser(request).id, undefined, 'user', requestContext(request))
    return reply.code(204).send(null)
  })

  fastify.delete('/users/me/sessions/:id', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'endMySession',
      summary: 'End one of your sessions',
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      response: { 204: Type.Null(), 404: Type.Ref(HttpError) }
    }
  }, async (request, reply) => {
    await sessions.endOwn(currentUser(request).id, request.params.id, 'user', requestContext(request))
    return reply.code(204).send(null)
  })
}

export default me
