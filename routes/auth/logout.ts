import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { requestContext } from '../../src/http/event-context.js'
import { currentUser } from '../../plugins/auth/current-user.js'

/** POST /logout: ends the session of the presented token (its access and refresh tokens). */
const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/logout', {
    config: { scopes: [] },
    schema: {
      tags: ['auth'],
      operationId: 'logout',
      summary: 'Log out: end this session',
      description: 'Ends the session of the access token. With `X-Token-Transport: cookie`, also clears the refresh (and access) cookies.',
      response: { 204: Type.Null({ description: 'Session ended' }) }
    }
  }, async (request, reply) => {
    // Browser apps (X-Token-Transport: cookie): the cookies are cleared with the session.
    const cookieMode = fastify.authCookies.requested(request)
    if (cookieMode) fastify.authCookies.assertOrigin(request)
    const user = currentUser(request)
    await fastify.authSessions.endOwn(user.id, user.session_id, 'logout', requestContext(request))
    if (cookieMode) fastify.authCookies.clear(reply)
    request.log.info({ event: 'logout', userId: user.id }, 'session ended')
    return reply.code(204).send(null)
  })
}

export default logout
