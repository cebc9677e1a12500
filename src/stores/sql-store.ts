import { sql, type Kysely, type Selectable, type Updateable } from 'kysely'
import { compileOnce } from '../db/compile-once.js'
import { createDatabase } from '../db/connection.js'
import { migrateToLatest } from '../db/migrations.js'
import { duplicateUserField } from '../db/errors.js'
import { BATCH, pauseAfterBatch } from '../db/batches.js'
import type { Database, UsersTable } from '../db/tables.js'
import { DuplicateUserError } from '../errors.js'
import type { UserRecord } from '../schemas/user.js'
import { identityKey, newId } from '../identifiers.js'
import { createSqlAuthorizationStore } from './sql-authorization-store.js'
import { createSqlIdentityStore } from './sql-identity-store.js'
import type { AuthStore, KeyStore, LoginFailureStore, MfaStore, NewUser, SessionStore, UserStore } from './auth-store.js'
import { createSqlAuditStore, createSqlWebhookStore } from './sql-audit-store.js'

/**
 * `work` in a transaction of its own, or in the one `db` already is (a store made for a
 * transaction, AuthStore.transaction): Kysely does not nest transactions.
 */
const atomically = <T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> =>
  db.isTransaction ? work(db) : db.transaction().execute(work)

/** The columns a UserRecord is made of. */
const USER_COLUMNS = [
  'users.id', 'users.username', 'users.email', 'users.email_verified', 'users.full_name',
  'users.password_hash', 'users.disabled', 'users.is_admin', 'users.created_at', 'users.metadata', 'users.mfa_enabled'
] as const
type UserRow = Pick<Selectable<UsersTable>, 'id' | 'username' | 'email' | 'email_verified' | 'full_name' | 'password_hash' | 'disabled' | 'is_admin' | 'created_at' | 'metadata'> & { mfa_enabled?: number }

/** Stored metadata as an object; anything else stored (by hand, or damaged) reads as none rather than stopping a request. */
function parseMetadata (text: string | null): Record<string, unknown> | null {
  if (text === null) return null
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

/**
 * What users.password_hash holds for a user without a password (social login, issue 23): the
 * column stays NOT NULL (making it nullable would rebuild the users table on SQLite, with every
 * foreign key pointing at it), and this marker is mapped to `null` here, at the store boundary, so
 * the rest of the code sees "no password". It is never a hash (PHC strings start with `$`), so
 * were it ever read past this mapping it would verify nothing: hash-formats.ts calls it unknown
 * and the dummy hash is verified instead.
 */
export const NO_PASSWORD = '!'
const storedHash = (hash: string | null): string => hash ?? NO_PASSWORD

const toUser = (row: UserRow): UserRecord => ({
  id: row.id,
  username: row.username,
  email: row.email,
  email_verified: row.email_verified === 1,
  full_name: row.full_name,
  disabled: row.disabled === 1,
  is_admin: row.is_admin === 1,
  created_at: new Date(row.created_at).toISOString(),
  password_hash: row.password_hash === NO_PASSWORD ? null : row.password_hash,
  metadata: parseMetadata(row.metadata),
  mfa_enabled: row.mfa_enabled === 1
})

/** A unique violation as the store's DuplicateUserError; any other error as it is. */
function asDuplicate (error: unknown): unknown {
  const field = duplicateUserField(error)
  return field === undefined ? error : new DuplicateUserError(field)
}

function newUserRow (user: NewUser, now: number) {
  return {
    id: newId(),
    username: user.username,
    username_key: identityKey(user.username),
    email: user.email ?? null,
    email_key: user.email == null ? null : identityKey(user.email),
    full_name: user.full_name ?? null,
    password_hash: storedHash(user.password_hash),
    disabled: user.disabled === true ? 1 : 0,
    is_admin: user.is_admin === true ? 1 : 0,
    email_verified: user.email_verified === true ? 1 : 0,
    metadata: user.metadata == null ? null : JSON.stringify(user.metadata),
    created_at: now,
    updated_at: now
  }
}

function userStore (db: Kysely<Database>): UserStore {
  const byId = async (id: string) => {
    const row = await db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst()
    return row && toUser(row)
  }
  return {
    async create (user) {
      const row = newUserRow(user, Date.now())
      try {
        await db.insertInto('users').values(row).execute()
      } catch (error) {
        throw asDuplicate(error)
      }
      return toUser(row)
    },
    async createMany (users) {
      const now = Date.now()
      const rows = users.map(user => newUserRow(user, now))
      // In batches, each its own short transaction, with a pause after each (../db/batches.ts):
      // one transaction for the whole import would keep every other writer waiting (issue 18).
      // Still all or nothing: when a batch fails (a name registered meanwhile), the rows this
      // import stored are deleted by id (their sessions, if one logged in meanwhile, with them).
      // Stored in the order of their keys, with the (random) ids handed out in sorted order: each
      // batch then changes a few neighbouring index pages instead of one page per row, which
      // makes each commit's WAL checkpoint small (400,000 rows: 5 s instead of 17; BENCHMARKS.md).
      const ordered = [...rows].sort((a, b) => a.username_key < b.username_key ? -1 : a.username_key > b.username_key ? 1 : 0)
      const ids = rows.map(row => row.id).sort()
      ordered.forEach((row, i) => { row.id = ids[i]! })
      let stored = 0
      try {
        for (; stored < ordered.length; stored += BATCH.rows) {
          if (stored > 0) await pauseAfterBatch()
          const batch = ordered.slice(stored, stored + BATCH.rows)
          await db.transaction().execute(async trx => {
            // In chunks: SQLite allows at most 32766 bound parameters per statement.
            for (let i = 0; i < batch.length; i += 500) await trx.insertInto('users').values(batch.slice(i, i + 500)).execute()
          })
        }
      } catch (error) {
        // The failed batch too: deleting an id that was never stored changes nothing.
        const written = ordered.slice(0, stored + BATCH.rows)
        try {
          for (let i = 0; i < written.length; i += BATCH.rows) {
            if (i > 0) await pauseAfterBatch()
            await db.deleteFrom('users').where('id', 'in', written.slice(i, i + BATCH.rows).map(row => row.id)).execute()
          }
        } catch (cleanup) {
          throw new AggregateError([asDuplicate(error), cleanup], `users import failed after ${stored} of ${ordered.length} rows were stored, and removing them failed: ${String(cleanup)}`)
        }
        throw asDuplicate(error)
      }
      return rows.map(toUser)
    },
    async takenKeys (keys) {
      if (keys.length === 0) return []
      const taken = new Set<string>()
      for (let i = 0; i < keys.length; i += 500) {
        const chunk = keys.slice(i, i + 500)
        const rows = await db.selectFrom('users').select(['username_key', 'email_key'])
          .where(eb => eb.or([eb('username_key', 'in', chunk), eb('email_key', 'in', chunk)])).execute()
        for (const row of rows) for (const key of [row.username_key, row.email_key]) if (key !== null && chunk.includes(key)) taken.add(key)
      }
      return [...taken]
    },
    async replacePasswordHash (id, expected, next) {
      const result = await db.updateTable('users').set({ password_hash: next, updated_at: Date.now() })
        .where('id', '=', id).where('password_hash', '=', expected).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async foreignHashSamples (nativePrefix) {
      const rows = await db.selectFrom('users').select('password_hash')
        .where(sql`substr(password_hash, 1, ${nativePrefix.length})`, '<>', nativePrefix).where('password_hash', '<>', NO_PASSWORD).limit(10_000).execute()
      // One per kind: the hash up to its salt ($2b$12$, $pbkdf2-sha256$29000$, $argon2id$v=19$m=…,t=…,p=…$).
      const kinds = new Map<string, string>()
      for (const { password_hash: hash } of rows) {
        const kind = hash.split('$').slice(0, hash.startsWith('$argon2') ? 4 : 3).join('$')
        if (!kinds.has(kind)) kinds.set(kind, hash)
      }
      return [...kinds.values()]
    },
    async findByLogin (login) {
      if (login.includes('\u0000')) return undefined // no account has one, and PostgreSQL refuses it in a query
      const key = identityKey(login)
      // A login with '@' is an e-mail; accounts named by an e-mail address (FIRST_SUPERUSER,
      // imports) have it as their username too, and older ones only there.
      const row = await db.selectFrom('users').select(USER_COLUMNS)
        .where(key.includes('@') ? eb => eb.or([eb('email_key', '=', key), eb('username_key', '=', key)]) : eb => eb('username_key', '=', key))
        .orderBy(sql`case when email_key = ${key} then 0 else 1 end`).limit(1).executeTakeFirst()
      return row && toUser(row)
    },
    findById: byId,
    async update (id, patch) {
      const values: Updateable<UsersTable> = { updated_at: Date.now() }
      if (patch.email !== undefined) {
        values.email = patch.email
        values.email_key = patch.email === null ? null : identityKey(patch.email)
      }
      if (patch.full_name !== undefined) values.full_name = patch.full_name
      if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0
      if (patch.is_admin !== undefined) values.is_admin = patch.is_admin ? 1 : 0
      if (patch.password_hash !== undefined) values.password_hash = storedHash(patch.password_hash)
      if (patch.email_verified !== undefined) values.email_verified = patch.email_verified ? 1 : 0
      if (patch.metadata !== undefined) values.metadata = patch.metadata === null ? null : JSON.stringify(patch.metadata)
      let query = db.updateTable('users').set(values).where('id', '=', id)
      if (patch.email !== undefined && patch.email_verified === undefined) {
        // A new address is unverified; the stored one (ignoring case) keeps its flag. SET reads the old row.
        query = query.set(eb => ({ email_verified: eb.case().when('email_key', '=', values.email_key ?? null).then(eb.ref('email_verified')).else(0).end() }))
      }
      try {
        const updated = await atomically(db, async trx => {
          const result = await trx.executeQuery(query.compile())
          if (result.numAffectedRows === 0n) return false
          // A new password makes every reset link sent before it dead (fastapi-users binds them to
          // the hash). The tokens' table is the mail store's, in the same database: one transaction.
          if (patch.password_hash !== undefined) {
            await trx.deleteFrom('email_tokens').where('user_id', '=', id).where('purpose', '=', 'reset').where('used_at', 'is', null).execute()
          }
          return true
        })
        if (!updated) return undefined
      } catch (error) {
        throw asDuplicate(error)
      }
      return byId(id)
    },
    async delete (id) {
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async list (limit, offset) {
      const [rows, count] = await Promise.all([
        db.selectFrom('users').select(USER_COLUMNS).orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        db.selectFrom('users').select(eb => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
      ])
      return { items: rows.map(toUser), total: Number(count.total) }
    }
  }
}

/**
 * Whether a used refresh token may be answered again (the reuse interval): it was first used at
 * or after `since`, and its successor is in the same session and has not been used itself.
 * Resolves the scope its first use granted, or undefined when it may not.
 */
async function withinReuse (trx: Kysely<Database>, tokenHash: string, successorHash: string, sessionId: string, since: number): Promise<{ usedScope: string | null } | undefined> {
  const rows = await trx.selectFrom('refresh_tokens').select(['token_hash', 'used_at', 'used_scope'])
    .where('session_id', '=', sessionId).where('token_hash', 'in', [tokenHash, successorHash]).execute()
  const parent = rows.find(r => r.token_hash === tokenHash)
  const successor = rows.find(r => r.token_hash === successorHash)
  if (parent?.used_at == null || Number(parent.used_at) < since || successor === undefined || successor.used_at !== null) return undefined
  return { usedScope: parent.used_scope }
}

function sessionStore (db: Kysely<Database>): SessionStore {
  const withUser = (q: Kysely<Database> = db) => q.selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('sessions')
    .select([
      'users.username', 'users.email', 'users.email_verified', 'users.full_name', 'users.password_hash',
      'users.disabled', 'users.is_admin', 'users.created_at as user_created_at', 'users.metadata', 'users.mfa_enabled'
    ])
  type Joined = Awaited<ReturnType<ReturnType<typeof withUser>['executeTakeFirstOrThrow']>>
  const split = (row: Joined) => {
    const { username, email, email_verified: emailVerified, full_name: fullName, password_hash: passwordHash, disabled, is_admin: isAdmin, user_created_at: userCreatedAt, metadata, mfa_enabled: mfaEnabled, ...session } = row
    const user = toUser({ id: session.user_id, username, email, email_verified: emailVerified, full_name: fullName, password_hash: passwordHash, disabled, is_admin: isAdmin, created_at: userCreatedAt, metadata, mfa_enabled: mfaEnabled })
    return { session, user }
  }

  // The lookup behind every authenticated request: compiled once (see compileOnce).
  const findWithUserQuery = compileOnce(sessionId => withUser().where('sessions.id', '=', sessionId))

  return {
    async create (session, refreshTokenHash, keepNewest) {
      await atomically(db, async trx => {
        await trx.insertInto('sessions').values(session).execute()
        await trx.insertInto('refresh_tokens')
          .values({ token_hash: refreshTokenHash, session_id: session.id, created_at: session.created_at, used_at: null, used_scope: null })
          .execute()
        if (keepNewest === undefined) return
        // The cap: the oldest live sessions beyond the newest `keepNewest` end now.
        const newest = trx.selectFrom('sessions').select('id').where('user_id', '=', session.user_id).where('ended_at', 'is', null)
          .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(keepNewest)
        await trx.updateTable('sessions').set({ ended_at: session.created_at })
          .where('user_id', '=', session.user_id).where('ended_at', 'is', null)
          .where('id', 'not in', eb => eb.selectFrom(newest.as('newest')).select('newest.id'))
          .execute()
      })
    },
    async findWithUser (sessionId) {
      const { rows: [row] } = await db.executeQuery(findWithUserQuery(sessionId))
      return row && split(row)
    },
    async findByRefreshToken (tokenHash) {
      return db.selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .selectAll('sessions')
        .where('refresh_tokens.token_hash', '=', tokenHash)
        .executeTakeFirst()
    },
    async touch (sessionId, now) {
      await db.updateTable('sessions').set({ last_used_at: now }).where('id', '=', sessionId).execute()
    },
    async rotateRefreshToken (tokenHash, successorHash, now, approve, reuse) {
      return atomically(db, async trx => {
        // The conditional update is the atomic step: of two racing refreshes only one matches
        // used_at IS NULL (PostgreSQL: the other waits for the row, then sees it used, and its
        // next statements see the committed successor; SQLite: transactions begin IMMEDIATE).
        const claimed = await trx.updateTable('refresh_tokens').set({ used_at: now })
          .where('token_hash', '=', tokenHash).where('used_at', 'is', null)
          .executeTakeFirst()
        const row = await withUser(trx)
          .innerJoin('refresh_tokens', 'refresh_tokens.session_id', 'sessions.id')
          .where('refresh_tokens.token_hash', '=', tokenHash)
          .executeTakeFirst()
        if (row === undefined) return { status: 'unknown' as const }
        const { session, user } = split(row)
        if (claimed.numUpdatedRows === 0n) {
          const replay = reuse === undefined ? undefined : await withinReuse(trx, tokenHash, successorHash, session.id, reuse.since)
          if (reuse !== undefined && replay !== undefined) {
            reuse.approve(session, user, replay.usedScope) // throws to refuse: nothing ends
            return { status: 'replayed' as const, session, user }
          }
          return { status: 'reused' as const, session }
        }
        const usedScope = approve(session, user) // throws to refuse: the transaction rolls back the claim
        if (usedScope !== undefined) await trx.updateTable('refresh_tokens').set({ used_scope: usedScope }).where('token_hash', '=', tokenHash).execute()
        await trx.insertInto('refresh_tokens')
          .values({ token_hash: successorHash, session_id: session.id, created_at: now, used_at: null, used_scope: null })
          .execute()
        await trx.updateTable('sessions').set({ last_used_at: now }).where('id', '=', session.id).execute()
        return { status: 'rotated' as const, session: { ...session, last_used_at: now }, user }
      })
    },
    async end (sessionId, now) {
      const result = await db.updateTable('sessions').set({ ended_at: now })
        .where('id', '=', sessionId).where('ended_at', 'is', null).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async endAllForUser (userId, now, exceptSessionId) {
      let query = db.updateTable('sessions').set({ ended_at: now })
        .where('user_id', '=', userId).where('ended_at', 'is', null)
      if (exceptSessionId !== undefined) query = query.where('id', '!=', exceptSessionId)
      const result = await query.executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
    async listForUser (userId, listing) {
      let query = db.selectFrom('sessions').selectAll().where('user_id', '=', userId)
        .where('ended_at', 'is', null).orderBy('created_at', 'desc').orderBy('id', 'desc')
      if (listing !== undefined) {
        query = query.where('expires_at', '>', listing.now).where('last_used_at', '>', listing.idleSince)
          .limit(listing.limit).offset(listing.offset)
      }
      return query.execute()
    },
    async purge (before) {
      const result = await db.deleteFrom('sessions')
        .where(eb => eb.or([eb('expires_at', '<', before), eb('ended_at', '<', before)]))
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

function keyStore (db: Kysely<Database>): KeyStore {
  return {
    list: () => db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute(),
    async insert (key) {
      await db.insertInto('signing_keys').values(key).execute()
    },
    async retire (kid, now) {
      await db.updateTable('signing_keys').set({ retired_at: now })
        .where('kid', '=', kid).where('retired_at', 'is', null).execute()
    },
    async deleteRetiredBefore (before) {
      const result = await db.deleteFrom('signing_keys').where('retired_at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

function loginFailureStore (db: Kysely<Database>): LoginFailureStore {
  return {
    async get (key, now, windowMs) {
      const row = await db.selectFrom('login_failures').select(['failures', 'window_start'])
        .where('login_key', '=', key).where('window_start', '>', now - windowMs).executeTakeFirst()
      return row === undefined ? { failures: 0, windowEnds: now } : { failures: row.failures, windowEnds: row.window_start + windowMs }
    },
    async add (key, now, windowMs) {
      // One statement: concurrent failures (even on two instances) each count.
      const expired = sql<boolean>`login_failures.window_start <= ${now - windowMs}`
      const row = await db.insertInto('login_failures')
        .values({ login_key: key, failures: 1, window_start: now })
        .onConflict(oc => oc.column('login_key').doUpdateSet({
          failures: sql`case when ${expired} then 1 else login_failures.failures + 1 end`,
          window_start: sql`case when ${expired} then ${now} else login_failures.window_start end`
        }))
        .returning(['failures', 'window_start'])
        .executeTakeFirstOrThrow()
      return { failures: Number(row.failures), windowEnds: Number(row.window_start) + windowMs }
    },
    async clear (key) {
      const result = await db.deleteFrom('login_failures').where('login_key', '=', key).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async release (key) {
      await db.updateTable('login_failures').set({ failures: sql`login_failures.failures - 1` })
        .where('login_key', '=', key).where('failures', '>', 0).execute()
    },
    async purge (before) {
      const result = await db.deleteFrom('login_failures').where('window_start', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

function mfaStore (db: Kysely<Database>): MfaStore {
  const insertCodes = async (trx: Kysely<Database>, userId: string, codeHashes: string[], now: number) => {
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
    if (codeHashes.length > 0) await trx.insertInto('recovery_codes').values(codeHashes.map(hash => ({ code_hash: hash, user_id: userId, created_at: now, used_at: null }))).execute()
  }
  return {
    getTotp: (userId) => db.selectFrom('user_totp').selectAll().where('user_id', '=', userId).executeTakeFirst(),
    async putPendingTotp (userId, secret, now) {
      const result = await db.insertInto('user_totp')
        .values({ user_id: userId, secret, state: 'pending', last_step: -1, created_at: now })
        .onConflict(oc => oc.column('user_id').doUpdateSet({ secret, state: 'pending', last_step: -1, created_at: now }).where('user_totp.state', '=', 'pending'))
        .executeTakeFirst()
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0
    },
    async activateTotp (userId, step, codeHashes, now) {
      return db.transaction().execute(async trx => {
        const result = await trx.updateTable('user_totp').set({ state: 'on', last_step: step })
          .where('user_id', '=', userId).where('state', '=', 'pending').where('last_step', '<', step)
          .executeTakeFirst()
        if (result.numUpdatedRows === 0n) return false
        await insertCodes(trx, userId, codeHashes, now)
        await trx.updateTable('users').set({ mfa_enabled: 1, updated_at: now }).where('id', '=', userId).execute()
        return true
      })
    },
    async advanceStep (userId, step) {
      // The compare-and-set that makes a code single use: of two racing uses of one step, one matches.
      const result = await db.updateTable('user_totp').set({ last_step: step })
        .where('user_id', '=', userId).where('state', '=', 'on').where('last_step', '<', step)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async deleteTotp (userId) {
      return db.transaction().execute(async trx => {
        const result = await trx.deleteFrom('user_totp').where('user_id', '=', userId).executeTakeFirst()
        await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute()
        await trx.updateTable('users').set({ mfa_enabled: 0, updated_at: Date.now() }).where('id', '=', userId).execute()
        return result.numDeletedRows > 0n
      })
    },
    async replaceRecoveryCodes (userId, codeHashes, now) {
      await db.transaction().execute(trx => insertCodes(trx, userId, codeHashes, now))
    },
    async useRecoveryCode (userId, codeHash, now) {
      const result = await db.updateTable('recovery_codes').set({ used_at: now })
        .where('code_hash', '=', codeHash).where('user_id', '=', userId).where('used_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async countRecoveryCodes (userId) {
      const row = await db.selectFrom('recovery_codes').select(eb => eb.fn.countAll<number>().as('left'))
        .where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirstOrThrow()
      return Number(row.left)
    },
    async anyTotp () {
      return (await db.selectFrom('user_totp').select('user_id').limit(1).executeTakeFirst()) !== undefined
    },
    async createChallenge (challenge) {
      await db.insertInto('mfa_challenges').values({ ...challenge, failures: 0, used_at: null }).execute()
    },
    findChallenge: (tokenHash) => db.selectFrom('mfa_challenges').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst(),
    async failChallenge (tokenHash, maxFailures, now) {
      // One statement: concurrent wrong codes each count; the last one allowed uses the challenge up.
      const row = await db.updateTable('mfa_challenges')
        .set(eb => ({
          failures: eb('failures', '+', 1),
          used_at: sql`case when failures + 1 >= ${maxFailures} then coalesce(used_at, ${now}) else used_at end`
        }))
        .where('token_hash', '=', tokenHash)
        .returning('failures')
        .executeTakeFirst()
      return row === undefined ? maxFailures : Number(row.failures)
    },
    async consumeChallenge (tokenHash, now, maxFailures) {
      const result = await db.updateTable('mfa_challenges').set({ used_at: now })
        .where('token_hash', '=', tokenHash).where('used_at', 'is', null)
        .where('expires_at', '>', now).where('failures', '<', maxFailures)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async purgeChallenges (before) {
      const result = await db.deleteFrom('mfa_challenges').where('expires_at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
    async deleteChallenges (userId) {
      const result = await db.deleteFrom('mfa_challenges').where('user_id', '=', userId).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

/**
 * Serves the per-request lookup (session and user) from memory while the database has not
 * changed: `changeCounter` (SQLite: this connection's writes and PRAGMA data_version, which moves
 * when any other connection commits) is read before every use, and any change empties the
 * cache. So a logout, revocation, password change, disable or delete — by this process, another
 * instance on the same file, or the CLI — is seen by the very next request, as without a cache.
 * At most `size` sessions are kept (the least recently used go first).
 */
function cachedLookup (lookup: SessionStore['findWithUser'], changeCounter: () => number, size: number): Pick<SessionStore, 'findWithUser'> & Required<Pick<SessionStore, 'cachedWithUser'>> {
  type Found = Awaited<ReturnType<SessionStore['findWithUser']>>
  const entries = new Map<string, Found>()
  let seen = changeCounter()
  /** The exact cached answer; the counter read first, as before every use. */
  const cachedWithUser = (sessionId: string): Found => {
    const now = changeCounter()
    if (now !== seen) {
      entries.clear()
      seen = now
    }
    const hit = entries.get(sessionId)
    if (hit !== undefined) {
      entries.delete(sessionId) // re-inserted below: Map order is the LRU order
      entries.set(sessionId, hit)
    }
    return hit
  }
  return {
    cachedWithUser,
    async findWithUser (sessionId) {
      const hit = cachedWithUser(sessionId)
      if (hit !== undefined) return hit
      const before = seen
      const found = await lookup(sessionId)
      // Only if nothing changed while the query ran (it is async): else the answer may be older.
      if (found !== undefined && changeCounter() === before) {
        if (entries.size >= size) entries.delete(entries.keys().next().value!)
        entries.set(sessionId, found)
      }
      return found
    }
  }
}

/**
 * The default AuthStore: SQL through Kysely, the same queries on SQLite and PostgreSQL. With
 * `sessionCache` (SQLite's change counter), the per-request session lookup is cached exactly
 * (see cachedLookup); PostgreSQL has no such counter, so every request asks the database.
 */
export function createSqlStore (db: Kysely<Database>, options: { sessionCache?: { changeCounter: () => number, size?: number } } = {}): AuthStore {
  const sessions = sessionStore(db)
  const cache = options.sessionCache
  if (cache !== undefined) Object.assign(sessions, cachedLookup(sessions.findWithUser, cache.changeCounter, cache.size ?? 10_000))
  return {
    users: userStore(db),
    sessions,
    keys: keyStore(db),
    loginFailures: loginFailureStore(db),
    audit: createSqlAuditStore(db),
    webhooks: createSqlWebhookStore(db),
    mfa: mfaStore(db),
    authorization: createSqlAuthorizationStore(db),
    identities: createSqlIdentityStore(db),
    // Every part on the transaction: an event commits with its change (issue 22). No session
    // cache inside: its change counter sees the transaction's writes all the same.
    transaction: work => atomically(db, trx => work(createSqlStore(trx)))
  }
}

/** The SQL store on a migrated in-memory SQLite database: the auth plugin's default (tests, demos). */
export async function createMemoryStore (): Promise<{ store: AuthStore, close: () => Promise<void> }> {
  const { db } = createDatabase('sqlite::memory:')
  await migrateToLatest(db)
  return { store: createSqlStore(db), close: () => db.destroy() }
}
