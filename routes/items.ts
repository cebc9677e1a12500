import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { NotFoundError } from '../src/errors.js'
import { HttpError, IdParams, Pagination } from '../src/schemas/common.js'
import { ItemCreate, ItemPublic } from '../src/schemas/item.js'
import { createItemStore } from '../src/stores/item-store.js'
import { currentUser } from '../plugins/auth/current-user.js'

/** /items: an example resource owned per user, behind scope `items`. Needs the database and auth plugins. */
const items: FastifyPluginAsyncTypebox = async (fastify) => {
  const store = createItemStore(fastify.db)
  fastify.addSchema(ItemPublic) // only these routes refer to it
  const config = { scopes: ['items'] }
  const notFound = { 404: Type.Ref(HttpError) }

  fastify.get('/items', {
    config,
    schema: { tags: ['items'], operationId: 'listItems', summary: 'Your items', querystring: Pagination, response: { 200: Type.Array(Type.Ref(ItemPublic)) } }
  }, async (request) => store.list(currentUser(request).id, request.query.limit, request.query.offset))

  fastify.post('/items', {
    config,
    schema: { tags: ['items'], operationId: 'createItem', summary: 'Create an item', body: ItemCreate, response: { 201: Type.Ref(ItemPublic), 400: Type.Ref(HttpError) } }
  }, async (request, reply) => reply.code(201).send(await store.create(currentUser(request).id, request.body)))

  fastify.get('/items/:id', {
    config,
    schema: { tags: ['items'], operationId: 'readItem', summary: 'One of your items', params: IdParams, response: { 200: Type.Ref(ItemPublic), ...notFound } }
  }, async (request) => {
    const item = await store.get(currentUser(request).id, request.params.id)
    if (item === undefined) throw new NotFoundError('Item')
    return item
  })

  fastify.delete('/items/:id', {
    config,
    schema: { tags: ['items'], operationId: 'deleteItem', summary: 'Delete one of your items', params: IdParams, response: { 204: Type.Null(), ...notFound } }
  }, async (request, reply) => {
    if (!await store.delete(currentUser(request).id, request.params.id)) throw new NotFoundError('Item')
    return reply.code(204).send(null)
  })
}

export default items
