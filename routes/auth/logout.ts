import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { requestContext } from '../../src/http/event-context.js'

/** POST /logout: ends the session of the presented token (its access and refresh tokens). */
const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/logout', {
    config: { scopes: [] },
    schema: {
      tags: ['auth'],
      operationId: 'logout',
      summary: 'Log out: end this session',
      response: { 204: Type.Null({ description: 'Session ended' }) }
    }
  }, async (request, reply) => {
    await fastify.authSessions.endOwn(request.user.id, request.user.session_id, 'logout', requestContext(request))
    request.log.info({ event: 'logout', userId: request.user.id }, 'session ended')
    return reply.code(204).send(null)
  })
}

export default logout
