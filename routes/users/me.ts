import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError, NotFoundError } from '../../src/errors.js'
import { bearerSecurity, HttpError, protectedErrors } from '../../src/schemas/common.js'
import { SessionPublic } from '../../src/schemas/session.js'
import { PasswordChange, UserPublic, UserUpdateMe } from '../../src/schemas/user.js'
import { toPublicUser } from '../../src/services/auth.js'

/** /users/me: your own account, password and sessions (scope `me`). */
const me: FastifyPluginAsyncTypebox = async (fastify) => {
  const routeOptions = { onRequest: [fastify.authenticate], config: { scopes: ['me' as const] } }
  const security = bearerSecurity('me')
  const service = fastify.authService

  fastify.get('/users/me', {
    ...routeOptions,
    schema: { tags: ['users'], summary: 'Your account', security, response: { 200: Type.Ref(UserPublic), ...protectedErrors } }
  }, async (request) => request.user)

  fastify.patch('/users/me', {
    ...routeOptions,
    schema: {
      tags: ['users'],
      summary: 'Update your e-mail or full name',
      security,
      body: UserUpdateMe,
      response: { 200: Type.Ref(UserPublic), 400: Type.Ref(HttpError), 409: Type.Ref(HttpError), ...protectedErrors }
    }
  }, async (request) => {
    const user = await service.updateUser(request.user.id, request.body)
    if (user === undefined) throw new NotFoundError('User')
    return toPublicUser(user)
  })

  fastify.put('/users/me/password', {
    ...routeOptions,
    schema: {
      tags: ['users'],
      summary: 'Change your password',
      description: 'Needs the current password. Ends every other session of yours; this one stays.',
      security,
      body: PasswordChange,
      response: { 204: Type.Null({ description: 'Changed' }), 400: Type.Ref(HttpError), ...protectedErrors }
    }
  }, async (request, reply) => {
    if (!await service.checkPassword(request.user.id, request.body.current_password)) {
      request.log.info({ event: 'password-change', outcome: 'failure', userId: request.user.id }, 'wrong current password')
      throw new BadRequestError('Current password is incorrect')
    }
    await service.changePassword(request.user, request.body.new_password, request.user.session_id)
    request.log.info({ event: 'password-change', outcome: 'success', userId: request.user.id }, 'password changed')
    return reply.code(204).send(null)
  })

  fastify.get('/users/me/sessions', {
    ...routeOptions,
    schema: { tags: ['users'], summary: 'Your active sessions', security, response: { 200: Type.Array(Type.Ref(SessionPublic)), ...protectedErrors } }
  }, async (request) => {
    const sessions = await service.listSessions(request.user.id)
    return sessions.map(s => ({
      id: s.id,
      created_at: new Date(s.created_at).toISOString(),
      last_used_at: new Date(s.last_used_at).toISOString(),
      user_agent: s.user_agent,
      current: s.id === request.user.session_id
    }))
  })

  fastify.delete('/users/me/sessions', {
    ...routeOptions,
    schema: { tags: ['users'], summary: 'Log out everywhere: end all your sessions', security, response: { 204: Type.Null(), ...protectedErrors } }
  }, async (request, reply) => {
    await service.endUserSessions(request.user.id)
    return reply.code(204).send(null)
  })

  fastify.delete('/users/me/sessions/:id', {
    ...routeOptions,
    schema: {
      tags: ['users'],
      summary: 'End one of your sessions',
      security,
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      response: { 204: Type.Null(), 404: Type.Ref(HttpError), ...protectedErrors }
    }
  }, async (request, reply) => {
    const sessions = await service.listSessions(request.user.id)
    if (!sessions.some(s => s.id === request.params.id)) throw new NotFoundError('Session')
    await service.endSession(request.params.id)
    return reply.code(204).send(null)
  })
}

export default me
