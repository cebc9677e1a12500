import type { Kysely, Selectable } from 'kysely'
import type { Database, ItemsTable } from '../db/tables.js'
import type { ItemCreate, ItemPublic } from '../schemas/item.js'
import { newId } from '../identifiers.js'

const toItem = (row: Selectable<ItemsTable>): ItemPublic => ({ ...row, created_at: new Date(row.created_at).toISOString() })

/** Items are always looked up with their owner: another user's item does not exist for you. */
export function createItemStore (db: Kysely<Database>) {
  return {
    async list (ownerId: string, limit: number, offset: number) {
      const rows = await db.selectFrom('items').selectAll().where('owner_id', '=', ownerId)
        .orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute()
      return rows.map(toItem)
    },
    async create (ownerId: string, item: ItemCreate) {
      const row = { id: newId(), owner_id: ownerId, title: item.title, description: item.description ?? null, created_at: Date.now() }
      await db.insertInto('items').values(row).execute()
      return toItem(row)
    },
    async get (ownerId: string, id: string) {
      const row = await db.selectFrom('items').selectAll().where('id', '=', id).where('owner_id', '=', ownerId).executeTakeFirst()
      return row && toItem(row)
    },
    async delete (ownerId: string, id: string) {
      const result = await db.deleteFrom('items').where('id', '=', id).where('owner_id', '=', ownerId).executeTakeFirst()
      return result.numDeletedRows > 0n
    }
  }
}
