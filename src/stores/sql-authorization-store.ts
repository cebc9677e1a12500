import type { Kysely, Selectable } from 'kysely'
import type { AuthorizationCodesTable, AuthorizationRequestsTable, Database, OAuthClientsTable } from '../db/tables.js'
import { DuplicateClientError } from '../errors.js'
import type { AuthorizationCodeRecord, AuthorizationRequestRecord, AuthorizationStore, OAuthClientRecord } from './auth-store.js'

/** A JSON array of strings as stored, or null (damaged text reads as null, never a 500). */
function stringArray (text: string | null): string[] | null {
  if (text === null) return null
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) && value.every(v => typeof v === 'string') ? value : null
  } catch {
    return null
  }
}

/** A primary-key or unique violation: PostgreSQL 23505, SQLite's (extended) constraint codes 1555 and 2067. */
function isDuplicateKey (error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown, errcode?: unknown }
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.errcode === 1555 || e.errcode === 2067
}

const toClient = (row: Selectable<OAuthClientsTable>): OAuthClientRecord => ({
  client_id: row.client_id,
  secret_hash: row.secret_hash,
  redirect_uris: stringArray(row.redirect_uris) ?? [],
  scopes: stringArray(row.scopes),
  first_party: Number(row.first_party) === 1,
  created_at: Number(row.created_at)
})

// PostgreSQL returns bigint columns as strings: every time is read through Number().
const toRequest = (row: Selectable<AuthorizationRequestsTable>): AuthorizationRequestRecord =>
  ({ ...row, created_at: Number(row.created_at), expires_at: Number(row.expires_at) })
const toCode = (row: Selectable<AuthorizationCodesTable>): AuthorizationCodeRecord => ({
  ...row,
  created_at: Number(row.created_at),
  expires_at: Number(row.expires_at),
  used_at: row.used_at === null ? null : Number(row.used_at),
  reused_at: row.reused_at === null ? null : Number(row.reused_at)
})

/**
 * The authorization-code flow's storage in SQL (migration 0009_oauth_clients), the same queries on
 * SQLite and PostgreSQL. Single use is one statement each: `DELETE … RETURNING` takes a request,
 * `UPDATE … WHERE used_at IS NULL` marks a code used, so of two racing uses exactly one is first;
 * the other marks it reused, which the first sees when it records its session.
 */
export function createSqlAuthorizationStore (db: Kysely<Database>): AuthorizationStore {
  return {
    async findClient (clientId) {
      const row = await db.selectFrom('oauth_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst()
      return row && toClient(row)
    },
    async insertClient (client) {
      try {
        await db.insertInto('oauth_clients').values({
          client_id: client.client_id,
          secret_hash: client.secret_hash,
          redirect_uris: JSON.stringify(client.redirect_uris),
          scopes: client.scopes === null ? null : JSON.stringify(client.scopes),
          first_party: client.first_party ? 1 : 0,
          created_at: client.created_at
        }).execute()
      } catch (error) {
        if (isDuplicateKey(error)) throw new DuplicateClientError(client.client_id)
        throw error
      }
    },
    async listClients () {
      return (await db.selectFrom('oauth_clients').selectAll().orderBy('client_id').execute()).map(toClient)
    },
    async deleteClient (clientId) {
      const result = await db.deleteFrom('oauth_clients').where('client_id', '=', clientId).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async createRequest (request) {
      await db.insertInto('authorization_requests').values(request).execute()
    },
    async findRequest (idHash) {
      const row = await db.selectFrom('authorization_requests').selectAll().where('id_hash', '=', idHash).executeTakeFirst()
      return row && toRequest(row)
    },
    async setRequestUser (idHash, userId, amr) {
      const result = await db.updateTable('authorization_requests').set({ user_id: userId, amr }).where('id_hash', '=', idHash).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async takeRequest (idHash) {
      const row = await db.deleteFrom('authorization_requests').where('id_hash', '=', idHash).returningAll().executeTakeFirst()
      return row && toRequest(row)
    },
    async createCode (code) {
      await db.insertInto('authorization_codes').values(code).execute()
    },
    async useCode (codeHash, now) {
      const first = await db.updateTable('authorization_codes').set({ used_at: now })
        .where('code_hash', '=', codeHash).where('used_at', 'is', null).returningAll().executeTakeFirst()
      if (first !== undefined) return { first: true, code: toCode(first) }
      const again = await db.updateTable('authorization_codes').set({ reused_at: now })
        .where('code_hash', '=', codeHash).returningAll().executeTakeFirst()
      return again && { first: false, code: toCode(again) }
    },
    async setCodeSession (codeHash, sessionId) {
      const row = await db.updateTable('authorization_codes').set({ session_id: sessionId }).where('code_hash', '=', codeHash).returningAll().executeTakeFirst()
      return row && toCode(row)
    },
    async forgetUser (userId) {
      const requests = await db.deleteFrom('authorization_requests').where('user_id', '=', userId).executeTakeFirst()
      const codes = await db.deleteFrom('authorization_codes').where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirst()
      return Number(requests.numDeletedRows) + Number(codes.numDeletedRows)
    },
    async purge (before) {
      const requests = await db.deleteFrom('authorization_requests').where('expires_at', '<', before).executeTakeFirst()
      const codes = await db.deleteFrom('authorization_codes').where('expires_at', '<', before).executeTakeFirst()
      return Number(requests.numDeletedRows) + Number(codes.numDeletedRows)
    }
  }
}

/**
 * The same storage in this process's memory, for a store that has none (an app's own AuthStore):
 * one instance only, lost at restart. Made per auth core, never shared between apps.
 */
export function createMemoryAuthorizationStore (): AuthorizationStore {
  const clients = new Map<string, OAuthClientRecord>()
  const requests = new Map<string, AuthorizationRequestRecord>()
  const codes = new Map<string, AuthorizationCodeRecord>()
  return {
    findClient: async (clientId) => clients.get(clientId),
    async insertClient (client) {
      if (clients.has(client.client_id)) throw new DuplicateClientError(client.client_id)
      clients.set(client.client_id, { ...client })
    },
    listClients: async () => [...clients.values()].sort((a, b) => a.client_id.localeCompare(b.client_id)),
    deleteClient: async (clientId) => clients.delete(clientId),
    async createRequest (request) { requests.set(request.id_hash, { ...request }) },
    findRequest: async (idHash) => { const found = requests.get(idHash); return found && { ...found } },
    async setRequestUser (idHash, userId, amr) {
      const found = requests.get(idHash)
      if (found === undefined) return false
      found.user_id = userId
      found.amr = amr
      return true
    },
    async takeRequest (idHash) {
      const found = requests.get(idHash)
      requests.delete(idHash)
      return found
    },
    async createCode (code) { codes.set(code.code_hash, { ...code }) },
    async useCode (codeHash, now) {
      const found = codes.get(codeHash)
      if (found === undefined) return undefined
      const first = found.used_at === null
      if (first) found.used_at = now
      else found.reused_at = now
      return { first, code: { ...found } }
    },
    async setCodeSession (codeHash, sessionId) {
      const found = codes.get(codeHash)
      if (found !== undefined) found.session_id = sessionId
      return found && { ...found }
    },
    async forgetUser (userId) {
      let deleted = 0
      for (const [key, request] of requests) if (request.user_id === userId && requests.delete(key)) deleted++
      for (const [key, code] of codes) if (code.user_id === userId && code.used_at === null && codes.delete(key)) deleted++
      return deleted
    },
    async purge (before) {
      let deleted = 0
      for (const map of [requests, codes] as Array<Map<string, { expires_at: number }>>) {
        for (const [key, value] of map) if (value.expires_at < before && map.delete(key)) deleted++
      }
      return deleted
    }
  }
}
