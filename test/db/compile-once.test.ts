import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createDatabase } from '../../src/db/connection.js'
import { compileOnce } from '../../src/db/compile-once.js'
import { migrateToLatest } from '../../src/db/migrations.js'

describe('compileOnce', () => {
  it('runs the compiled query with each call\'s value', async (t) => {
    const { db } = createDatabase('sqlite::memory:')
    t.after(() => db.destroy())
    await migrateToLatest(db)
    const now = Date.now()
    for (const name of ['ada', 'grace']) {
      const user = { id: `id-${name}`, username: name, username_key: name, password_hash: 'x', disabled: 0, is_admin: 0 }
      await db.insertInto('users').values({ ...user, email: null, email_key: null, full_name: null, created_at: now, updated_at: now }).execute()
    }
    const byId = compileOnce(id => db.selectFrom('users').select('username').where('id', '=', id))
    // Names only: node:sqlite (Node 22+) returns rows with a null prototype.
    const usernames = async (query: ReturnType<typeof byId>) => (await db.executeQuery(query)).rows.map(row => row.username)
    const first = byId('id-ada')
    assert.deepEqual(await usernames(first), ['ada'])
    assert.deepEqual(await usernames(byId('id-grace')), ['grace'])
    assert.deepEqual(await usernames(byId('nobody')), [])
    assert.deepEqual(first.parameters, ['id-ada'], 'a later call does not change an earlier query')
  })

  it('refuses a query whose parameters are not exactly the one value', (t) => {
    const { db } = createDatabase('sqlite::memory:')
    t.after(() => db.destroy())
    assert.throws(() => compileOnce(id => db.selectFrom('users').select('id').where('id', '=', id).where('username', '=', 'x')), /only parameter \(it has 2\)/)
    assert.throws(() => compileOnce(() => db.selectFrom('users').select('id').where('username', '=', 'x')), /only parameter \(it has 1\)/)
  })
})
