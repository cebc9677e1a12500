import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { bearerSecurity, protectedErrors } from '../../src/schemas/common.js'

/** POST /logout: ends the session of the presented token (its access and refresh tokens). */
const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/logout', {
    onRequest: [fastify.authenticate],
    schema: {
      tags: ['auth'],
      summary: 'Log out: end this session',
      security: bearerSecurity(),
      response: { 204: Type.Null({ description: 'Session ended' }), 401: protectedErrors[401] }
    }
  }, async (request, reply) => {
    await fastify.authService.endSession(request.user.session_id)
    request.log.info({ event: 'logout', userId: request.user.id }, 'session ended')
    return reply.code(204).send(null)
  })
}

export default logout
