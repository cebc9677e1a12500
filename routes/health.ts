import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HttpError } from '../src/schemas/common.js'

/** GET /health: 200 when the database answers; 503 when it does not (the error handler maps driver errors). */
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    logLevel: 'warn',
    schema: {
      tags: ['meta'],
      operationId: 'health',
      summary: 'Health check',
      response: { 200: Type.Object({ status: Type.Literal('ok') }), 503: Type.Ref(HttpError) }
    }
  }, async () => {
    await fastify.pingDatabase()
    return { status: 'ok' as const }
  })
}

export default health
