import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import type PG from 'pg'
import { Kysely, PostgresDialect } from 'kysely'
import type { Database } from './tables.js'
import { openSqlite } from './sqlite.js'
import { RetryingSqliteDialect } from './sqlite-dialect.js'

export type Dialect = 'sqlite' | 'postgres'
export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: Dialect
  /** SQLite only: a value that changes whenever the database may have changed (see openSqlite) */
  changeCounter?: () => number
}

const INT8_OID = 20
/**
 * Opens the database named by a `DATABASE_URL`: `sqlite:<path>`, `sqlite::memory:`
 * or `postgres://…`. The same Kysely queries run on both.
 */
export function createDatabase (url: string, poolSize = 10): DatabaseHandle {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    const memory = path === ':memory:' || path === ''
    if (!memory) mkdirSync(dirname(path), { recursive: true })
    const database = openSqlite(memory ? ':memory:' : path)
    return {
      // Kysely's SQLite dialect, but waiting for another process's write lock on timers (sqlite-dialect.ts).
      db: new Kysely<Database>({ dialect: new RetryingSqliteDialect(database) }),
      dialect: 'sqlite',
      changeCounter: database.changeCounter
    }
  }

  // Loaded only for PostgreSQL: the driver costs memory an embedded-SQLite server does not need.
  const pg = createRequire(import.meta.url)('pg') as typeof PG
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5000,
    // Epoch-millisecond columns are bigint; they fit a JS number. Per-pool, not pg's global parser.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser
    }
  })
  // An idle client losing its server connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), dialect: 'postgres' }
}
