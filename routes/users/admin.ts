import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorHandler } from '../../src/http/error-handler.js'
import { requestContext } from '../../src/http/event-context.js'
import textSafety from '../../plugins/text-safety.js'
import validation from '../../plugins/validation.js'
import { HttpError, IdParams, Pagination } from '../../src/schemas/common.js'
import { UserList, UserPublic, UserUpdateAdmin } from '../../src/schemas/user.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/** /users and /users/{id}: user administration (scope `admin`); a user may read their own record. */
const admin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.setErrorHandler(errorHandler) // mounted apps: domain errors as 4xx, whatever the app's handler
  await fastify.register(textSafety) // mounted apps too: no NUL or lone surrogate reaches the store
  await fastify.register(validation) // and bodies validated strictly: an unknown member is a 400
  const accounts = fastify.authAccounts
  const config = { scopes: ['admin'] }
  const notFound = { 404: Type.Ref(HttpError) }

  fastify.get('/users', {
    config,
    schema: { tags: ['users'], operationId: 'listUsers', summary: 'List users', querystring: Pagination, response: { 200: UserList } }
  }, async (request) => {
    const { limit, offset } = request.query
    return { ...await accounts.list(limit, offset), limit, offset }
  })

  fastify.get('/users/:id', {
    config: { scopes: [] },
    schema: {
      tags: ['users'],
      operationId: 'readUser',
      summary: 'A user: yourself, or anyone with scope admin',
      description: 'Answers 404, not 403, for another user without scope admin, so ids reveal nothing.',
      params: IdParams,
      response: { 200: Type.Ref(UserPublic), ...notFound }
    }
  }, async (request) => {
    const user = currentUser(request)
    return request.params.id === user.id ? user : await accounts.getVisibleTo(user, request.params.id)
  })

  fastify.patch('/users/:id', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'updateUser',
      summary: 'Update a user: disable, make admin, e-mail, full name',
      description: 'Disabling a user ends all their sessions at once.',
      params: IdParams,
      body: UserUpdateAdmin,
      response: { 200: Type.Ref(UserPublic), 400: Type.Ref(HttpError), 409: Type.Ref(HttpError), ...notFound }
    }
  }, async (request) => {
    const user = await accounts.updateByAdmin(currentUser(request), request.params.id, request.body, requestContext(request))
    request.log.info({ event: 'admin-update', userId: user.id, by: currentUser(request).id, fields: Object.keys(request.body) }, 'user updated')
    return user
  })

  fastify.delete('/users/:id', {
    config,
    schema: { tags: ['users'], operationId: 'deleteUser', summary: 'Delete a user (and their sessions and items)', params: IdParams, response: { 204: Type.Null(), 400: Type.Ref(HttpError), ...notFound } }
  }, async (request, reply) => {
    await accounts.delete(currentUser(request), request.params.id, requestContext(request))
    request.log.info({ event: 'admin-delete', userId: request.params.id, by: currentUser(request).id }, 'user deleted')
    return reply.code(204).send(null)
  })

  fastify.delete('/users/:id/lockout', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'unlockUser',
      summary: 'End a login lock: the user\'s failed password logins no longer count',
      description: 'After too many failed password logins an account\'s logins answer 429 until the window passes (see the README, "Brute force"); this ends the lock at once.',
      params: IdParams,
      response: { 204: Type.Null(), ...notFound }
    }
  }, async (request, reply) => {
    const cleared = await accounts.unlock(request.params.id)
    request.log.info({ event: 'admin-unlock', userId: request.params.id, by: currentUser(request).id, cleared }, 'login lock ended')
    return reply.code(204).send(null)
  })

  fastify.delete('/users/:id/mfa', {
    config,
    schema: {
      tags: ['users', 'mfa'],
      operationId: 'resetUserMfa',
      summary: 'Turn a user\'s two-factor authentication off (a lost authenticator and lost recovery codes)',
      description: 'Deletes the TOTP secret and recovery codes and ends every session of the user. Also `npm run cli -- users mfa-reset <name>`.',
      params: IdParams,
      response: { 204: Type.Null(), ...notFound }
    }
  }, async (request, reply) => {
    const user = currentUser(request)
    const was = await fastify.authCore.mfa.reset(request.params.id, { id: user.id, via: 'admin' }, { ip: request.ip, session_id: user.session_id, client_id: user.client_id })
    request.log.info({ event: 'admin-mfa-reset', userId: request.params.id, by: user.id, was }, 'two-factor authentication reset')
    return reply.code(204).send(null)
  })
}

export default admin
