import { createRequire } from 'node:module'

/*
 * The embedded SQLite driver. Node's own `node:sqlite` where it exists (Node 22.13+), else
 * better-sqlite3 (Node 20). better-sqlite3 12 aborts Node 24 when it collects a statement
 * (https://github.com/WiseLibs/better-sqlite3/issues/1515) and 13 needs Node-API 10, which
 * Node 20 lacks, so no single version of it serves every Node we support.
 * Both are adapted to what Kysely's SQLite dialect calls, with prepared statements reused; the
 * dialect is ./sqlite-dialect.ts, which waits for other processes' locks without blocking the loop.
 */

interface Statement {
  all (...params: unknown[]): unknown[]
  run (...params: unknown[]): { changes: number | bigint, lastInsertRowid: number | bigint }
  iterate (...params: unknown[]): IterableIterator<unknown>
}
interface Connection {
  prepare (sql: string): Statement
  exec (sql: string): void
  close (): void
}
type NodeSqlite = { DatabaseSync: new (path: string) => Connection }

const STATEMENT_CACHE_SIZE = 256
const READER = /^\s*(select|with|pragma|explain|values)\b|\breturning\b/i
/** Statements that cannot change the database (anything else counts as a write, transactions included). */
const READ_ONLY = /^\s*(select|explain|values)\b|^\s*pragma\s+\w+\s*;?\s*$/i

function openConnection (path: string): { connection: Connection, driver: string } {
  const builtin = process.getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined
  if (builtin !== undefined) return { connection: new builtin.DatabaseSync(path), driver: 'node:sqlite' }
  const BetterSqlite = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Connection
  return { connection: new BetterSqlite(path), driver: 'better-sqlite3' }
}

/** PRAGMA data_version as a number, by the cheapest call each driver has (better-sqlite3's pluck). */
function dataVersionOf (connection: Connection): () => number {
  const statement = connection.prepare('PRAGMA data_version') as Statement & { pluck?: () => { get: () => number }, get: () => { data_version: number } }
  const plucked = typeof statement.pluck === 'function' ? statement.pluck() : undefined
  const read = plucked !== undefined ? () => plucked.get() : () => statement.get().data_version
  return () => {
    // It needs a read lock, which WAL hardly ever refuses (busy_timeout is 0): unknown counts as changed.
    try { return read() } catch { return Number.NaN }
  }
}

/**
 * Opens a SQLite database as the object Kysely's SQLite dialects expect. Preparing costs more
 * than running a small indexed query, and Kysely prepares each query anew: queries are
 * parameterised, so their SQL text repeats and the prepared statement is reused.
 */
export function openSqlite (path: string) {
  const { connection, driver } = openConnection(path)
  // WAL lets readers run beside the writer. The driver is synchronous, so the automatic checkpoint
  // (copy the WAL back, fsync) stalls the event loop: a WAL of 100 pages instead of 1000 keeps each
  // stall short (BENCHMARKS.md, /health); it is PASSIVE, so it never waits for another process.
  // busy_timeout only while opening (switching a file to WAL needs it to itself; nothing is served
  // yet), then 0: a busy timeout is a sleep inside the call, the event loop frozen while another
  // process writes (issue 18). The dialect (./sqlite-dialect.ts) retries on timers instead.
  connection.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 100; PRAGMA busy_timeout = 0')
  const cache = new Map<string, { reader: boolean, all: Statement['all'], run: Statement['run'], iterate: Statement['iterate'] }>()
  // Writes through this connection; PRAGMA data_version counts the commits of every other one.
  let writes = 0
  const dataVersion = dataVersionOf(connection)
  return {
    driver,
    close: () => { cache.clear(); connection.close() },
    /**
     * Changes whenever the database may have changed: a write through this connection, or a
     * commit by any other connection (another instance, the CLI) that SQLite's
     * `PRAGMA data_version` reports. A cache built on reads is exact while it stays the same.
     */
    // Both only grow, so their sum changes whenever either does.
    changeCounter: () => dataVersion() + writes,
    prepare (sql: string) {
      let statement = cache.get(sql)
      if (statement === undefined) {
        const prepared = connection.prepare(sql)
        const readOnly = READ_ONLY.test(sql)
        // Kysely passes the parameters as one array; both drivers take them spread.
        statement = {
          reader: READER.test(sql),
          // Counted once done: a statement refused (SQLITE_BUSY, a constraint) changed nothing.
          all: readOnly ? (params: unknown) => prepared.all(...(params as unknown[])) : (params: unknown) => { const rows = prepared.all(...(params as unknown[])); writes++; return rows },
          run: (params: unknown) => { const result = prepared.run(...(params as unknown[])); if (!readOnly) writes++; return result },
          iterate: (params: unknown) => prepared.iterate(...(params as unknown[]))
        }
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!)
        cache.set(sql, statement)
      }
      return statement
    }
  }
}
