import type { Kysely, Selectable } from 'kysely'
import type { Database, SocialLoginStatesTable, UserIdentitiesTable } from '../db/tables.js'
import { DuplicateIdentityError } from '../errors.js'
import type { IdentityRecord, IdentityStore, SocialLoginStateRecord } from './auth-store.js'

/** A primary-key or unique violation: PostgreSQL 23505, SQLite's (extended) constraint codes. */
function isDuplicateKey (error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown, errcode?: unknown }
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.errcode === 1555 || e.errcode === 2067
}

// PostgreSQL returns bigint columns as strings: every time is read through Number().
const toIdentity = (row: Selectable<UserIdentitiesTable>): IdentityRecord => ({
  id: row.id,
  user_id: row.user_id,
  provider: row.provider,
  subject: row.subject,
  email: row.email,
  email_verified: Number(row.email_verified) === 1,
  created_at: Number(row.created_at)
})
const toState = (row: Selectable<SocialLoginStatesTable>): SocialLoginStateRecord =>
  ({ ...row, created_at: Number(row.created_at), expires_at: Number(row.expires_at) })

/**
 * Social login's storage in SQL (migration 0010_social_login), the same queries on SQLite and
 * PostgreSQL. A state is taken by one `DELETE … RETURNING`: of two racing callbacks with one
 * state, exactly one gets it (single use). (provider, subject) is unique: of two racing first
 * sign-ins, one links and the other gets DuplicateIdentityError.
 */
export function createSqlIdentityStore (db: Kysely<Database>): IdentityStore {
  return {
    async find (provider, subject) {
      const row = await db.selectFrom('user_identities').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst()
      return row && toIdentity(row)
    },
    async listForUser (userId) {
      return (await db.selectFrom('user_identities').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute()).map(toIdentity)
    },
    async insert (identity) {
      try {
        await db.insertInto('user_identities').values({ ...identity, email_verified: identity.email_verified ? 1 : 0 }).execute()
      } catch (error) {
        if (isDuplicateKey(error)) throw new DuplicateIdentityError()
        throw error
      }
    },
    async updateEmail (id, email, emailVerified) {
      await db.updateTable('user_identities').set({ email, email_verified: emailVerified ? 1 : 0 }).where('id', '=', id).execute()
    },
    async delete (userId, id) {
      const result = await db.deleteFrom('user_identities').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async createState (state) {
      await db.insertInto('social_login_states').values(state).execute()
    },
    async takeState (stateHash) {
      const row = await db.deleteFrom('social_login_states').where('state_hash', '=', stateHash).returningAll().executeTakeFirst()
      return row && toState(row)
    },
    async purgeStates (before) {
      const result = await db.deleteFrom('social_login_states').where('expires_at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}
