import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BadRequestError, NotFoundError } from '../../src/errors.js'
import { bearerSecurity, HttpError, IdParams, Pagination, protectedErrors } from '../../src/schemas/common.js'
import { UserList, UserPublic, UserUpdateAdmin } from '../../src/schemas/user.js'
import { toPublicUser } from '../../src/services/auth.js'

/** /users and /users/{id}: user administration (scope `admin`); a user may read their own record. */
const admin: FastifyPluginAsyncTypebox = async (fastify) => {
  const users = fastify.authStore.users
  const adminOnly = { onRequest: [fastify.authenticate], config: { scopes: ['admin' as const] } }
  const security = bearerSecurity('admin')
  const notFound = { 404: Type.Ref(HttpError) }

  fastify.get('/users', {
    ...adminOnly,
    schema: { tags: ['users'], summary: 'List users', security, querystring: Pagination, response: { 200: UserList, ...protectedErrors } }
  }, async (request) => {
    const { limit, offset } = request.query
    const { items, total } = await users.list(limit, offset)
    return { items: items.map(toPublicUser), total, limit, offset }
  })

  fastify.get('/users/:id', {
    onRequest: [fastify.authenticate],
    schema: {
      tags: ['users'],
      summary: 'A user: yourself, or anyone with scope admin',
      description: 'Answers 404, not 403, for another user without scope admin, so ids reveal nothing.',
      security: bearerSecurity(),
      params: IdParams,
      response: { 200: Type.Ref(UserPublic), ...notFound, 401: protectedErrors[401] }
    }
  }, async (request) => {
    const self = request.params.id === request.user.id
    if (!self && !request.user.token_scopes.includes('admin')) throw new NotFoundError('User')
    const user = self ? request.user : await users.findById(request.params.id)
    if (user === undefined) throw new NotFoundError('User')
    return 'password_hash' in user ? toPublicUser(user) : user
  })

  fastify.patch('/users/:id', {
    ...adminOnly,
    schema: {
      tags: ['users'],
      summary: 'Update a user: disable, make admin, e-mail, full name',
      description: 'Disabling a user ends all their sessions at once.',
      security,
      params: IdParams,
      body: UserUpdateAdmin,
      response: { 200: Type.Ref(UserPublic), 400: Type.Ref(HttpError), 409: Type.Ref(HttpError), ...notFound, ...protectedErrors }
    }
  }, async (request) => {
    const { id } = request.params
    if (id === request.user.id && (request.body.disabled === true || request.body.is_admin === false)) {
      throw new BadRequestError('You cannot disable yourself or remove your own admin rights')
    }
    const user = await fastify.authService.updateUser(id, request.body)
    if (user === undefined) throw new NotFoundError('User')
    if (request.body.disabled === true) await fastify.authService.endUserSessions(id)
    request.log.info({ event: 'admin-update', userId: id, by: request.user.id, fields: Object.keys(request.body) }, 'user updated')
    return toPublicUser(user)
  })

  fastify.delete('/users/:id', {
    ...adminOnly,
    schema: { tags: ['users'], summary: 'Delete a user (and their sessions and items)', security, params: IdParams, response: { 204: Type.Null(), 400: Type.Ref(HttpError), ...notFound, ...protectedErrors } }
  }, async (request, reply) => {
    if (request.params.id === request.user.id) throw new BadRequestError('You cannot delete yourself')
    if (!await users.delete(request.params.id)) throw new NotFoundError('User')
    request.log.info({ event: 'admin-delete', userId: request.params.id, by: request.user.id }, 'user deleted')
    return reply.code(204).send(null)
  })
}

export default admin
