/*
 * The app's own table, `profiles`, and its own Kysely migrations. They run with a Migrator of
 * the app's, on the database the auth plugin uses, and are recorded in Kysely's default
 * `kysely_migration`: the plugin records its own in `auth_migration`, so neither sees the other's.
 */
import type { Kysely } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'

// Types, not interfaces: Kysely's withTables wants an index signature.
export type ProfilesTable = {
  user_id: string
  tenant: string
  plan: string
  /** ISO 8601 */
  created_at: string
}
export type AppTables = { profiles: ProfilesTable }

const migrations: Record<string, Migration> = {
  app_0001_profiles: {
    async up (db: Kysely<any>) {
      await db.schema.createTable('profiles')
        .addColumn('user_id', 'text', col => col.primaryKey())
        .addColumn('tenant', 'text', col => col.notNull())
        .addColumn('plan', 'text', col => col.notNull())
        .addColumn('created_at', 'text', col => col.notNull())
        .execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('profiles').execute()
    }
  }
}

/** Brings the app's own tables to the latest version. @throws the failing migration's error */
export async function migrateAppTables (db: Kysely<any>): Promise<void> {
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest()
  if (error !== undefined) throw error
}
