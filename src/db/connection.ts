import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import pg from 'pg'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import type { Database } from './tables.js'

export type Dialect = 'sqlite' | 'postgres'
export interface DatabaseHandle {
  db: Kysely<Database>
  dialect: Dialect
}

const INT8_OID = 20
const STATEMENT_CACHE_SIZE = 256

/**
 * Kysely prepares every query anew; preparing costs more than running a small indexed query
 * in SQLite. Queries are parameterised, so their SQL text repeats: reuse the statement.
 */
function withStatementCache (database: SQLite.Database) {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close: () => database.close(),
    prepare (sql: string) {
      let statement = cache.get(sql)
      if (statement === undefined) {
        statement = database.prepare(sql)
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!)
        cache.set(sql, statement)
      }
      return statement
    }
  }
}

/**
 * Opens the database named by a `DATABASE_URL`: `sqlite:<path>`, `sqlite::memory:`
 * or `postgres://…`. The same Kysely queries run on both.
 */
export function createDatabase (url: string, poolSize = 10): DatabaseHandle {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    const memory = path === ':memory:' || path === ''
    if (!memory) mkdirSync(dirname(path), { recursive: true })
    const database = new SQLite(memory ? ':memory:' : path)
    // WAL lets readers run beside the writer; busy_timeout waits for a lock instead of failing.
    database.pragma('journal_mode = WAL')
    database.pragma('synchronous = NORMAL')
    database.pragma('busy_timeout = 5000')
    database.pragma('foreign_keys = ON')
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }), dialect: 'sqlite' }
  }

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
