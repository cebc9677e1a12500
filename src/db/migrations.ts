import { PostgresAdapter, sql, type Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration'

/*
 * Versioned migrations, applied in name order at start. Kysely's Migrator records them in
 * `auth_migration` (the plugin's own table: see migrateToLatest) and holds a lock while it runs
 * (an advisory lock on PostgreSQL), so instances starting together do not race. Never edit a
 * released migration: add one.
 */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('users')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('username', 'text', c => c.notNull())
        .addColumn('username_key', 'text', c => c.notNull().unique())
        .addColumn('email', 'text')
        .addColumn('email_key', 'text', c => c.unique())
        .addColumn('full_name', 'text')
        .addColumn('password_hash', 'text', c => c.notNull())
        .addColumn('disabled', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('is_admin', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('updated_at', 'bigint', c => c.notNull())
        .execute()

      await db.schema.createTable('sessions')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('scope', 'text', c => c.notNull())
        .addColumn('client_id', 'text', c => c.notNull())
        .addColumn('user_agent', 'text')
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('last_used_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .addColumn('ended_at', 'bigint')
        .execute()
      await db.schema.createIndex('sessions_user_id_idx').on('sessions').column('user_id').execute()
      await db.schema.createIndex('sessions_expires_at_idx').on('sessions').column('expires_at').execute()

      await db.schema.createTable('refresh_tokens')
        .addColumn('token_hash', 'text', c => c.primaryKey())
        .addColumn('session_id', 'text', c => c.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema.createIndex('refresh_tokens_session_id_idx').on('refresh_tokens').column('session_id').execute()

      await db.schema.createTable('signing_keys')
        .addColumn('kid', 'text', c => c.primaryKey())
        .addColumn('alg', 'text', c => c.notNull())
        .addColumn('public_jwk', 'text', c => c.notNull())
        .addColumn('private_key', 'text', c => c.notNull())
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('retired_at', 'bigint')
        .execute()

      await db.schema.createTable('items')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('owner_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('title', 'text', c => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', c => c.notNull())
        .execute()
      await db.schema.createIndex('items_owner_id_idx').on('items').columns(['owner_id', 'created_at']).execute()
    }
  },
  '0002_login_throttle': {
    async up (db: Kysely<any>) {
      // Failed password logins per account (the normalised login), shared by every instance.
      await db.schema.createTable('login_failures')
        .addColumn('login_key', 'text', c => c.primaryKey())
        .addColumn('failures', 'integer', c => c.notNull())
        .addColumn('window_start', 'bigint', c => c.notNull())
        .execute()
    }
  },
  '0003_mail': {
    async up (db: Kysely<any>) {
      // Set by /verify (or an admin); cleared when the address changes (issue 13).
      await db.schema.alterTable('users').addColumn('email_verified', 'integer', c => c.notNull().defaultTo(0)).execute()

      // One-time tokens sent by e-mail: password reset and address verification. Only their
      // SHA-256 is stored; `email` is the address the token was sent to (and, for 'verify', verifies).
      await db.schema.createTable('email_tokens')
        .addColumn('token_hash', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('purpose', 'text', c => c.notNull())
        .addColumn('email', 'text', c => c.notNull())
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema.createIndex('email_tokens_user_purpose_idx').on('email_tokens').columns(['user_id', 'purpose']).execute()

      // The outbox: a message is written in the transaction that creates its token and sent
      // afterwards by a worker, which claims it (claimed_until, claimed_by), retries it with
      // backoff (attempts, next_attempt_at, last_error) and ends it (sent_at or failed_at).
      await db.schema.createTable('mail_outbox')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('recipient', 'text', c => c.notNull())
        .addColumn('subject', 'text', c => c.notNull())
        .addColumn('text', 'text', c => c.notNull())
        .addColumn('html', 'text')
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('attempts', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', c => c.notNull())
        .addColumn('claimed_until', 'bigint')
        .addColumn('claimed_by', 'text')
        .addColumn('sent_at', 'bigint')
        .addColumn('failed_at', 'bigint')
        .addColumn('last_error', 'text')
        .execute()
      await db.schema.createIndex('mail_outbox_next_attempt_idx').on('mail_outbox').column('next_attempt_at').execute()
    }
  },
  '0004_mail_requests': {
    async up (db: Kysely<any>) {
      // Recovery requests as they arrived, one row whatever the address; the mail worker resolves
      // them (issue 18: /forgot-password took longer for a registered address).
      await db.schema.createTable('mail_requests')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('email_key', 'text', c => c.notNull())
        .addColumn('purpose', 'text', c => c.notNull())
        .addColumn('requested_at', 'bigint', c => c.notNull())
        .execute()
      await db.schema.createIndex('mail_requests_requested_at_idx').on('mail_requests').column('requested_at').execute()
    }
  },
  '0005_user_metadata': {
    async up (db: Kysely<any>) {
      // The app's own fields on the user (the auth plugin's `userMetadata`), as JSON text (issue 19).
      await db.schema.alterTable('users').addColumn('metadata', 'text').execute()
    }
  },
  '0006_refresh_reuse_interval': {
    async up (db: Kysely<any>) {
      // The reuse interval (issue 20): a successor is derived from its parent with the session's
      // own key, so a replay within the interval can answer it again without it being stored in
      // clear; the scope its first use granted bounds what a replay may ask. Older sessions have
      // no key: their tokens rotate strictly.
      await db.schema.alterTable('sessions').addColumn('rotation_key', 'text').execute()
      await db.schema.alterTable('refresh_tokens').addColumn('used_scope', 'text').execute()
    }
  },
  '0007_mfa': {
    async up (db: Kysely<any>) {
      // Two-factor authentication (issue 21). `mfa_enabled` mirrors user_totp.state = 'on' (written
      // in the same transaction), so the public user shows it without a join.
      await db.schema.alterTable('users').addColumn('mfa_enabled', 'integer', c => c.notNull().defaultTo(0)).execute()
      // The session's authentication methods (RFC 8176 `amr`, JSON array text): a refresh keeps them.
      await db.schema.alterTable('sessions').addColumn('amr', 'text').execute()
      // One TOTP secret per user, encrypted (src/services/mfa-crypto.ts); `last_step` is the last
      // accepted RFC 6238 time step, advanced by compare-and-set so a code is accepted once.
      await db.schema.createTable('user_totp')
        .addColumn('user_id', 'text', c => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('secret', 'text', c => c.notNull())
        .addColumn('state', 'text', c => c.notNull())
        .addColumn('last_step', 'bigint', c => c.notNull().defaultTo(-1))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .execute()
      // Recovery codes: SHA-256 of each (64 random bits), single use.
      await db.schema.createTable('recovery_codes')
        .addColumn('code_hash', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema.createIndex('recovery_codes_user_id_idx').on('recovery_codes').column('user_id').execute()
      // mfa_token of the password grant's 403: SHA-256 only, single use, bound to client and scope.
      await db.schema.createTable('mfa_challenges')
        .addColumn('token_hash', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'text', c => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('failures', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute()
      await db.schema.createIndex('mfa_challenges_expires_at_idx').on('mfa_challenges').column('expires_at').execute()
    }
  },
  '0008_audit': {
    async up (db: Kysely<any>) {
      // Every event, written in the transaction of the change it records (issue 22). No foreign
      // keys: a deleted user's trail stays until the retention purge.
      await db.schema.createTable('audit_events')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('type', 'text', c => c.notNull())
        .addColumn('at', 'bigint', c => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('actor_id', 'text')
        .addColumn('session_id', 'text')
        .addColumn('client_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('data', 'text', c => c.notNull())
        .addColumn('count', 'integer', c => c.notNull().defaultTo(1))
        // failed logins of unknown names: one row per client address and minute (unique: an upsert)
        .addColumn('aggregate_key', 'text', c => c.unique())
        .execute()
      await db.schema.createIndex('audit_events_at_idx').on('audit_events').columns(['at', 'id']).execute()
      await db.schema.createIndex('audit_events_user_idx').on('audit_events').columns(['user_id', 'at']).execute()

      // The webhook outbox: the mail outbox's claim columns (src/db/claim-queue.ts) and the signed body.
      await db.schema.createTable('webhook_deliveries')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('event_id', 'text', c => c.notNull())
        .addColumn('event_type', 'text', c => c.notNull())
        .addColumn('payload', 'text', c => c.notNull())
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('attempts', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', c => c.notNull())
        .addColumn('claimed_until', 'bigint')
        .addColumn('claimed_by', 'text')
        .addColumn('sent_at', 'bigint')
        .addColumn('failed_at', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('last_status', 'integer')
        .execute()
      await db.schema.createIndex('webhook_deliveries_next_attempt_idx').on('webhook_deliveries').column('next_attempt_at').execute()
    }
  },
  '0009_oauth_clients': {
    async up (db: Kysely<any>) {
      // The authorization-code flow (issue 23): clients added by the CLI (those of
      // OAUTH_CLIENTS_FILE stay in the file), pending requests and codes, each stored by hash.
      await db.schema.createTable('oauth_clients')
        .addColumn('client_id', 'text', c => c.primaryKey())
        .addColumn('secret_hash', 'text')
        .addColumn('redirect_uris', 'text', c => c.notNull()) // JSON array
        .addColumn('scopes', 'text') // JSON array, null: every scope
        .addColumn('first_party', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .execute()
      await db.schema.createTable('authorization_requests')
        .addColumn('id_hash', 'text', c => c.primaryKey())
        .addColumn('browser_hash', 'text', c => c.notNull())
        .addColumn('client_id', 'text', c => c.notNull())
        .addColumn('redirect_uri', 'text', c => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('state', 'text')
        .addColumn('code_challenge', 'text', c => c.notNull())
        .addColumn('user_id', 'text', c => c.references('users.id').onDelete('cascade'))
        .addColumn('amr', 'text') // JSON array, set with user_id
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .execute()
      await db.schema.createIndex('authorization_requests_expires_at_idx').on('authorization_requests').column('expires_at').execute()
      await db.schema.createTable('authorization_codes')
        .addColumn('code_hash', 'text', c => c.primaryKey())
        .addColumn('client_id', 'text', c => c.notNull())
        .addColumn('redirect_uri', 'text', c => c.notNull())
        .addColumn('code_challenge', 'text', c => c.notNull())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('scope', 'text', c => c.notNull())
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('reused_at', 'bigint')
        .addColumn('session_id', 'text')
        // the authentication methods of the login that issued it (RFC 8176, JSON array text): the session's `amr`
        .addColumn('amr', 'text')
        .execute()
      await db.schema.createIndex('authorization_codes_expires_at_idx').on('authorization_codes').column('expires_at').execute()
    }
  },
  '0010_social_login': {
    async up (db: Kysely<any>) {
      // Social login (issue 23): identities at upstream providers, keyed by (provider, subject)
      // (OIDC Core §5.7: `sub` is the stable key, never the e-mail), and the logins under way.
      // Users without a password keep users.password_hash NOT NULL: the store writes a marker
      // that is never a hash (src/stores/sql-store.ts NO_PASSWORD), so no table is rebuilt on SQLite.
      await db.schema.createTable('user_identities')
        .addColumn('id', 'text', c => c.primaryKey())
        .addColumn('user_id', 'text', c => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('provider', 'text', c => c.notNull())
        .addColumn('subject', 'text', c => c.notNull())
        .addColumn('email', 'text')
        .addColumn('email_verified', 'integer', c => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addUniqueConstraint('user_identities_provider_subject_key', ['provider', 'subject'])
        .execute()
      await db.schema.createIndex('user_identities_user_id_idx').on('user_identities').column('user_id').execute()
      // By the hash of the state sent to the provider; nonce, PKCE verifier and the pending
      // authorization request's id sealed with a key derived from the state itself.
      await db.schema.createTable('social_login_states')
        .addColumn('state_hash', 'text', c => c.primaryKey())
        .addColumn('provider', 'text', c => c.notNull())
        .addColumn('browser_hash', 'text', c => c.notNull())
        .addColumn('sealed', 'text', c => c.notNull())
        .addColumn('created_at', 'bigint', c => c.notNull())
        .addColumn('expires_at', 'bigint', c => c.notNull())
        .execute()
      await db.schema.createIndex('social_login_states_expires_at_idx').on('social_login_states').column('expires_at').execute()
      // A second factor's challenge remembers what the first factor was (JSON array; null: ["pwd"],
      // as before): a social login's TOTP step ends with amr ["ext","otp"], not ["pwd","otp"].
      await db.schema.alterTable('mfa_challenges').addColumn('amr', 'text').execute()
    }
  }
}

const provider: MigrationProvider = { getMigrations: async () => migrations }

/*
 * The plugin records its migrations in tables of its own, so that an app running its own Kysely
 * migrations on the same database (in Kysely's default `kysely_migration`) never sees the
 * plugin's names there ("previously executed migration 0001_initial is missing").
 */
export const MIGRATION_TABLE = 'auth_migration'
export const MIGRATION_LOCK_TABLE = 'auth_migration_lock'
/** Where earlier versions recorded them: Kysely's default table, which the app's Migrator shares. */
const LEGACY_MIGRATION_TABLE = 'kysely_migration'
/** Tables only the plugin's `0001_initial` creates: their presence tells its rows from an app's. */
const FOOTPRINT = ['refresh_tokens', 'signing_keys']

/** The plugin's migrations, by name (for tools and tests: `migrateToLatest` is the way to apply them). */
export const migrationProvider: MigrationProvider = provider

/**
 * Brings the schema to the latest version, recorded in `auth_migration` under the lock of
 * `auth_migration_lock` (an advisory lock on PostgreSQL); throws with the failing migration's error.
 */
export async function migrateToLatest (db: Kysely<any>): Promise<void> {
  // On PostgreSQL, keep Kysely's bookkeeping tables in the schema we migrate (the first of
  // search_path): unqualified, Kysely would find another schema's tables and skip creating its own.
  let migrationTableSchema: string | undefined
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
    migrationTableSchema = rows[0]?.schema
  }
  await adoptLegacyRecords(db, migrationTableSchema)
  const { error, results } = await new Migrator({
    db,
    provider,
    migrationTableSchema,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE
  }).migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find(r => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`database migration ${failed} failed`, { cause: error })
  }
}

/**
 * The first start after the upgrade: moves the plugin's rows (the names in `migrations`, with
 * their timestamps) from `kysely_migration` to `auth_migration`, so nothing runs again, and
 * leaves every other row (the app's own migrations) where it is. One transaction, under the
 * migration lock of the adapter (PostgreSQL: the advisory lock every Kysely Migrator takes, so
 * neither another instance's plugin nor the app's own Migrator runs meanwhile; SQLite: the
 * transaction's write lock). It moves nothing once `auth_migration` has rows, nor when the
 * plugin's tables are not there: a `0001_initial` in `kysely_migration` is then the app's own.
 */
async function adoptLegacyRecords (db: Kysely<any>, schema: string | undefined): Promise<void> {
  const adapter = db.getExecutor().adapter
  // The options Kysely's Migrator passes (the adapters of SQLite and PostgreSQL use none of them).
  const lock = { lockTable: MIGRATION_LOCK_TABLE, lockRowId: 'migration_lock', lockTableSchema: schema }
  await db.transaction().execute(async (trx) => {
    await adapter.acquireMigrationLock(trx, lock)
    try {
      const tables = new Set((await trx.introspection.getTables({ withInternalKyselyTables: true }))
        .filter(t => schema === undefined || t.schema === schema).map(t => t.name))
      if (!tables.has(LEGACY_MIGRATION_TABLE) || !FOOTPRINT.every(t => tables.has(t))) return
      const inSchema = schema === undefined ? trx : trx.withSchema(schema)
      if (tables.has(MIGRATION_TABLE) && await inSchema.selectFrom(MIGRATION_TABLE).select('name').limit(1).executeTakeFirst() !== undefined) return
      const rows = await inSchema.selectFrom(LEGACY_MIGRATION_TABLE).select(['name', 'timestamp'])
        .where('name', 'in', Object.keys(migrations)).execute() as Array<{ name: string, timestamp: string }>
      if (rows.length === 0) return
      // The table as Kysely's Migrator creates it (it finds it there and keeps it).
      await (schema === undefined ? trx.schema : trx.schema.withSchema(schema)).createTable(MIGRATION_TABLE).ifNotExists()
        .addColumn('name', 'varchar(255)', c => c.notNull().primaryKey())
        .addColumn('timestamp', 'varchar(255)', c => c.notNull())
        .execute()
      await inSchema.insertInto(MIGRATION_TABLE).values(rows).execute()
      await inSchema.deleteFrom(LEGACY_MIGRATION_TABLE).where('name', 'in', rows.map(r => r.name)).execute()
    } finally {
      await adapter.releaseMigrationLock(trx, lock)
    }
  })
}
