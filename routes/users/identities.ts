import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { requestContext } from '../../src/http/event-context.js'
import { HttpError } from '../../src/schemas/common.js'
import { IdentityPublic } from '../../src/schemas/identity.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/** /users/me/identities: your identities at social login providers (scope `me`). */
const identities: FastifyPluginAsyncTypebox = async (fastify) => {
  const social = fastify.authCore.social
  const config = { scopes: ['me'] }

  fastify.get('/users/me/identities', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'listMyIdentities',
      summary: 'Your linked social login identities',
      response: { 200: Type.Array(IdentityPublic, { description: 'Oldest first' }) }
    }
  }, async (request) => social.list(currentUser(request).id))

  fastify.delete('/users/me/identities/:id', {
    config,
    schema: {
      tags: ['users'],
      operationId: 'unlinkMyIdentity',
      summary: 'Remove a linked identity',
      description: 'Never the last way to log in: without a password and another identity, 409 (set a password with /forgot-password, or link another provider, first).',
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      response: {
        204: Type.Null({ description: 'Removed' }),
        404: Type.Ref(HttpError, { description: 'No such identity of yours' }),
        409: Type.Ref(HttpError, { description: 'It is your last way to log in' })
      }
    }
  }, async (request, reply) => {
    await social.unlink(currentUser(request).id, request.params.id, requestContext(request))
    return reply.code(204).send(null)
  })
}

export default identities
