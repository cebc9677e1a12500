import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ItemPublic } from '../../src/schemas/item.js'
import { adminLogin, bearer, build, registerAndLogin } from '../helper.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const createItem = (app: FastifyInstance, token: string, payload: unknown) =>
  app.inject({ method: 'POST', url: '/items', headers: bearer(token), payload: payload as Record<string, unknown> })

async function newItem (app: FastifyInstance, token: string, title: string, description?: string) {
  const res = await createItem(app, token, description === undefined ? { title } : { title, description })
  assert.equal(res.statusCode, 201, res.body)
  return res.json<ItemPublic>()
}

describe('POST /items', () => {
  it('creates an item owned by the caller', async (t) => {
    const app = await build(t)
    const { user, tokens } = await registerAndLogin(app)
    const before = Date.now()
    const res = await createItem(app, tokens.access_token, { title: 'Milk', description: 'two litres' })
    assert.equal(res.statusCode, 201)
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8/)
    const item = res.json<ItemPublic>()
    assert.deepEqual(Object.keys(item).sort(), ['created_at', 'description', 'id', 'owner_id', 'title'])
    assert.match(item.id, UUID)
    assert.equal(item.title, 'Milk')
    assert.equal(item.description, 'two litres')
    assert.equal(item.owner_id, user.id)
    const created = Date.parse(item.created_at)
    assert.ok(created >= before - 1000 && created <= Date.now() + 1000, item.created_at)
  })

  it('stores a missing description as null', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const item = await newItem(app, tokens.access_token, 'Bread')
    assert.equal(item.description, null)
  })

  for (const [name, payload] of [
    ['a missing title', { description: 'no title' }],
    ['an empty title', { title: '' }],
    ['a title that is not a string', { title: 42 }],
    ['an extra property', { title: 'Eggs', owner_id: randomUUID() }],
    ['an extra id', { title: 'Eggs', id: randomUUID() }],
    ['a title too long', { title: 'x'.repeat(201) }],
    ['no body', undefined]
  ] as const) {
    it(`answers 400 for ${name}`, async (t) => {
      const app = await build(t)
      const { tokens } = await registerAndLogin(app)
      const res = await createItem(app, tokens.access_token, payload)
      assert.equal(res.statusCode, 400)
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
      const stored = await app.db.selectFrom('items').selectAll().execute()
      assert.equal(stored.length, 0, 'nothing was stored')
    })
  }
})

describe('GET /items', () => {
  it('lists only the caller\'s own items', async (t) => {
    const app = await build(t)
    const alice = await registerAndLogin(app)
    const bob = await registerAndLogin(app)
    const mine = [await newItem(app, alice.tokens.access_token, 'a1'), await newItem(app, alice.tokens.access_token, 'a2')]
    await newItem(app, bob.tokens.access_token, 'b1')

    const res = await app.inject({ url: '/items', headers: bearer(alice.tokens.access_token) })
    assert.equal(res.statusCode, 200)
    const items = res.json<ItemPublic[]>()
    assert.deepEqual(items.map(i => i.id).sort(), mine.map(i => i.id).sort())
    assert.ok(items.every(i => i.owner_id === alice.user.id))

    const bobs = (await app.inject({ url: '/items', headers: bearer(bob.tokens.access_token) })).json<ItemPublic[]>()
    assert.deepEqual(bobs.map(i => i.title), ['b1'])
  })

  it('pages with limit and offset', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    for (const title of ['one', 'two', 'three']) await newItem(app, tokens.access_token, title)
    const first = (await app.inject({ url: '/items?limit=2', headers: bearer(tokens.access_token) })).json<ItemPublic[]>()
    const rest = (await app.inject({ url: '/items?limit=2&offset=2', headers: bearer(tokens.access_token) })).json<ItemPublic[]>()
    assert.equal(first.length, 2)
    assert.equal(rest.length, 1)
    assert.equal(new Set([...first, ...rest].map(i => i.id)).size, 3)
    const bad = await app.inject({ url: '/items?limit=0', headers: bearer(tokens.access_token) })
    assert.equal(bad.statusCode, 400)
  })

  it('answers an empty list to a user without items', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const res = await app.inject({ url: '/items', headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), [])
  })
})

describe('GET and DELETE /items/{id}', () => {
  it('answers the caller\'s own item', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const item = await newItem(app, tokens.access_token, 'Tea', 'green')
    const res = await app.inject({ url: `/items/${item.id}`, headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), item)
  })

  it('answers 404, not 403, for another user\'s item, as for an unknown one', async (t) => {
    const app = await build(t)
    const alice = await registerAndLogin(app)
    const bob = await registerAndLogin(app)
    const item = await newItem(app, bob.tokens.access_token, 'Bob\'s')
    for (const method of ['GET', 'DELETE'] as const) {
      const foreign = await app.inject({ method, url: `/items/${item.id}`, headers: bearer(alice.tokens.access_token) })
      const unknown = await app.inject({ method, url: `/items/${randomUUID()}`, headers: bearer(alice.tokens.access_token) })
      assert.equal(foreign.statusCode, 404, method)
      assert.equal(unknown.statusCode, 404, method)
      assert.deepEqual(foreign.json(), unknown.json())
    }
    const still = await app.inject({ url: `/items/${item.id}`, headers: bearer(bob.tokens.access_token) })
    assert.equal(still.statusCode, 200, 'bob\'s item survived alice\'s delete')
  })

  it('even an admin gets 404 for another user\'s item', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const bob = await registerAndLogin(app)
    const item = await newItem(app, bob.tokens.access_token, 'private')
    const res = await app.inject({ url: `/items/${item.id}`, headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 404)
  })

  it('deletes an item: 204, then 404', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    const item = await newItem(app, tokens.access_token, 'Soon gone')
    const res = await app.inject({ method: 'DELETE', url: `/items/${item.id}`, headers: bearer(tokens.access_token) })
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')
    assert.equal((await app.inject({ url: `/items/${item.id}`, headers: bearer(tokens.access_token) })).statusCode, 404)
    assert.equal((await app.inject({ method: 'DELETE', url: `/items/${item.id}`, headers: bearer(tokens.access_token) })).statusCode, 404)
  })

  it('answers 400 for an id that is not a UUID', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app)
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await app.inject({ method, url: '/items/not-a-uuid', headers: bearer(tokens.access_token) })
      assert.equal(res.statusCode, 400, method)
    }
  })
})

describe('/items access', () => {
  it('answers 403 insufficient_scope to a token without scope items', async (t) => {
    const app = await build(t)
    const { tokens } = await registerAndLogin(app, { scope: 'me' })
    const requests = [
      { method: 'GET' as const, url: '/items' },
      { method: 'POST' as const, url: '/items', payload: { title: 'x' } },
      { method: 'GET' as const, url: `/items/${randomUUID()}` },
      { method: 'DELETE' as const, url: `/items/${randomUUID()}` }
    ]
    for (const request of requests) {
      const res = await app.inject({ ...request, headers: bearer(tokens.access_token) })
      assert.equal(res.statusCode, 403, `${request.method} ${request.url}`)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="items"')
    }
    assert.equal((await app.db.selectFrom('items').selectAll().execute()).length, 0)
  })

  it('answers 401 without a token or with a bad one', async (t) => {
    const app = await build(t)
    const none = await app.inject({ url: '/items' })
    assert.equal(none.statusCode, 401)
    assert.equal(none.headers['www-authenticate'], 'Bearer')
    const bad = await app.inject({ url: '/items', headers: bearer('not.a.jwt') })
    assert.equal(bad.statusCode, 401)
    assert.equal(bad.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })

  it('deletes a user\'s items with the user', async (t) => {
    const app = await build(t)
    const admin = await adminLogin(app)
    const doomed = await registerAndLogin(app)
    const kept = await registerAndLogin(app)
    await newItem(app, doomed.tokens.access_token, 'd1')
    await newItem(app, doomed.tokens.access_token, 'd2')
    const survivor = await newItem(app, kept.tokens.access_token, 'k1')
    const countOf = async (ownerId: string) =>
      (await app.db.selectFrom('items').select('id').where('owner_id', '=', ownerId).execute()).length
    assert.equal(await countOf(doomed.user.id), 2)

    const res = await app.inject({ method: 'DELETE', url: `/users/${doomed.user.id}`, headers: bearer(admin.tokens.access_token) })
    assert.equal(res.statusCode, 204)
    assert.equal(await countOf(doomed.user.id), 0)
    const left = await app.db.selectFrom('items').select('id').execute()
    assert.deepEqual(left.map(r => r.id), [survivor.id])
  })
})
