import { describe, it, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { sql, type Kysely } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'
import { createDatabase } from '../../src/db/connection.js'
import { migrateToLatest, migrationProvider, MIGRATION_TABLE } from '../../src/db/migrations.js'
import { durableDatabaseUrl, isolatedDatabaseUrl } from '../helper.js'

/*
 * The plugin's migrations live in a table of their own (`auth_migration`), so an app's own Kysely
 * migrations run on the same database, in Kysely's default `kysely_migration` (issue 19: they
 * failed with "previously executed migration 0001_initial is missing"). A database migrated by
 * an earlier version has the plugin's rows in `kysely_migration`: the first start moves them.
 * SQLite here; PostgreSQL with TEST_DATABASE_URL (bash scripts/with-postgres.sh …).
 */

const LEGACY = 'kysely_migration'
const onPostgres = () => process.env.TEST_DATABASE_URL?.startsWith('postgres') === true

async function open (t: TestContext, url?: string) {
  const { db } = createDatabase(url ?? await isolatedDatabaseUrl())
  t.after(() => db.destroy())
  return db as Kysely<any>
}

/** The schema unqualified names resolve to (PostgreSQL), as migrateToLatest uses it. */
async function schemaOf (db: Kysely<any>): Promise<string | undefined> {
  if (!onPostgres()) return undefined
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  return rows[0]!.schema
}

/** What an earlier version did: Kysely's Migrator with its default tables on the plugin's migrations. */
async function migrateTheOldWay (db: Kysely<any>) {
  const { error } = await new Migrator({ db, provider: migrationProvider, migrationTableSchema: await schemaOf(db) }).migrateToLatest()
  assert.equal(error, undefined)
}

/** An app's own migrations, recorded in Kysely's default table (as `new Migrator({ db, provider })` does). */
const appMigrations: Record<string, Migration> = {
  '0001_initial': { up: async (db) => { await db.schema.createTable('app_notes').addColumn('id', 'integer', c => c.primaryKey()).execute() } },
  '0002_note_text': { up: async (db) => { await db.schema.alterTable('app_notes').addColumn('text', 'text').execute() } }
}
async function migrateTheApp (db: Kysely<any>) {
  return new Migrator({ db, provider: { getMigrations: async () => appMigrations }, migrationTableSchema: await schemaOf(db) }).migrateToLatest()
}

type Row = { name: string, timestamp: string }
// Plain objects: node:sqlite (Node 22+) returns rows without a prototype, which deepEqual tells apart.
const rowsOf = async (db: Kysely<any>, table: string): Promise<Row[]> =>
  (await db.selectFrom(table).select(['name', 'timestamp']).orderBy('name').execute() as Row[]).map(row => ({ ...row }))
const names = (rows: Row[]) => rows.map(r => r.name)

async function tableNames (db: Kysely<any>) {
  const schema = await schemaOf(db)
  return (await db.introspection.getTables({ withInternalKyselyTables: true }))
    .filter(t => schema === undefined || t.schema === schema).map(t => t.name)
}

const pluginNames = async () => Object.keys(await migrationProvider.getMigrations()).sort()

describe('the plugin\'s migration table', () => {
  it('is auth_migration on a new database; kysely_migration stays the app\'s, whose migrations then run beside', async (t) => {
    const db = await open(t)
    await migrateToLatest(db)
    assert.deepEqual(names(await rowsOf(db, MIGRATION_TABLE)), await pluginNames())
    assert.equal((await tableNames(db)).includes(LEGACY), false, 'the plugin creates no kysely_migration')

    const app = await migrateTheApp(db)
    assert.equal(app.error, undefined)
    assert.deepEqual(app.results?.map(r => [r.migrationName, r.status]), [['0001_initial', 'Success'], ['0002_note_text', 'Success']])
    assert.deepEqual(names(await rowsOf(db, LEGACY)), ['0001_initial', '0002_note_text'])

    // The next start: nothing moves, nothing runs, on either side.
    await migrateToLatest(db)
    assert.deepEqual(names(await rowsOf(db, LEGACY)), ['0001_initial', '0002_note_text'])
    assert.deepEqual((await migrateTheApp(db)).results, [])
  })

  it('leaves an app\'s own 0001_initial alone when the app migrated the database first', async (t) => {
    const db = await open(t)
    assert.equal((await migrateTheApp(db)).error, undefined)
    const appRows = await rowsOf(db, LEGACY)
    await migrateToLatest(db) // the plugin's 0001_initial runs: its tables are created
    assert.ok((await tableNames(db)).includes('users'))
    assert.deepEqual(names(await rowsOf(db, MIGRATION_TABLE)), await pluginNames())
    assert.deepEqual(await rowsOf(db, LEGACY), appRows)
    assert.deepEqual((await migrateTheApp(db)).results, [])
  })
})

describe('a database migrated by an earlier version (the plugin\'s rows in kysely_migration)', () => {
  it('moves the plugin\'s rows to auth_migration at the first start: nothing runs again, then the app\'s migrations run', async (t) => {
    const db = await open(t)
    await migrateTheOldWay(db)
    const old = await rowsOf(db, LEGACY)
    assert.deepEqual(names(old), await pluginNames())
    // Before the fix, this was the app's failure.
    const refused = await migrateTheApp(db)
    assert.match(String(refused.error), /previously executed migration \S+ is missing/)

    await migrateToLatest(db)
    // Moved, not run again: the same timestamps (a migration run again would also fail on its tables).
    assert.deepEqual(await rowsOf(db, MIGRATION_TABLE), old)
    assert.deepEqual(await rowsOf(db, LEGACY), [])

    const app = await migrateTheApp(db)
    assert.equal(app.error, undefined)
    assert.deepEqual(names(await rowsOf(db, LEGACY)), ['0001_initial', '0002_note_text'])
    assert.deepEqual(await rowsOf(db, MIGRATION_TABLE), old)

    await migrateToLatest(db)
    assert.deepEqual(await rowsOf(db, MIGRATION_TABLE), old)
    assert.deepEqual(names(await rowsOf(db, LEGACY)), ['0001_initial', '0002_note_text'])
  })

  it('moves only the names the plugin knows: the app\'s rows stay in kysely_migration', async (t) => {
    const db = await open(t)
    await migrateTheOldWay(db)
    const old = await rowsOf(db, LEGACY)
    // An app that shared the table (its Migrator allowing unordered names, say).
    const appRow = { name: '20240101_app_notes', timestamp: new Date().toISOString() }
    await db.insertInto(LEGACY).values(appRow).execute()

    await migrateToLatest(db)
    assert.deepEqual(await rowsOf(db, MIGRATION_TABLE), old)
    assert.deepEqual(await rowsOf(db, LEGACY), [appRow])
  })

  it('moves them once when instances start together', async (t) => {
    // A race: a few rounds of three instances, each round on a database of its own.
    for (let round = 0; round < 3; round++) {
      const url = await durableDatabaseUrl(t)
      const instances = [await open(t, url), await open(t, url), await open(t, url)]
      await migrateTheOldWay(instances[0]!)
      const old = await rowsOf(instances[0]!, LEGACY)
      await Promise.all(instances.map(db => migrateToLatest(db)))
      assert.deepEqual(await rowsOf(instances[1]!, MIGRATION_TABLE), old)
      assert.deepEqual(await rowsOf(instances[2]!, LEGACY), [])
    }
  })
})
