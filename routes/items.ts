import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { NotFoundError } from '../src/errors.js'
import { bearerSecurity, HttpError, IdParams, Pagination, protectedErrors } from '../src/schemas/common.js'
import { ItemCreate, ItemPublic } from '../src/schemas/item.js'
import { createItemStore } from '../src/services/items.js'

/** /items: an example resource owned per user, behind scope `items`. */
const items: FastifyPluginAsyncTypebox = async (fastify) => {
  const store = createItemStore(fastify.db)
  // Every route here needs a token with scope `items`: one hook for the whole encapsulated scope.
  fastify.addHook('onRequest', fastify.authenticate)
  fastify.addHook('onRoute', route => { route.config = { ...route.config, scopes: ['items'] } })
  const security = bearerSecurity('items')
  const notFound = { 404: Type.Ref(HttpError) }

  fastify.get('/items', {
    schema: { tags: ['items'], summary: 'Your items', security, querystring: Pagination, response: { 200: Type.Array(Type.Ref(ItemPublic)), ...protectedErrors } }
  }, async (request) => store.list(request.user.id, request.query.limit, request.query.offset))

  fastify.post('/items', {
    schema: { tags: ['items'], summary: 'Create an item', security, body: ItemCreate, response: { 201: Type.Ref(ItemPublic), 400: Type.Ref(HttpError), ...protectedErrors } }
  }, async (request, reply) => reply.code(201).send(await store.create(request.user.id, request.body)))

  fastify.get('/items/:id', {
    schema: { tags: ['items'], summary: 'One of your items', security, params: IdParams, response: { 200: Type.Ref(ItemPublic), ...notFound, ...protectedErrors } }
  }, async (request) => {
    const item = await store.get(request.user.id, request.params.id)
    if (item === undefined) throw new NotFoundError('Item')
    return item
  })

  fastify.delete('/items/:id', {
    schema: { tags: ['items'], summary: 'Delete one of your items', security, params: IdParams, response: { 204: Type.Null(), ...notFound, ...protectedErrors } }
  }, async (request, reply) => {
    if (!await store.delete(request.user.id, request.params.id)) throw new NotFoundError('Item')
    return reply.code(204).send(null)
  })
}

export default items
