import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type DatabaseConnection, type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver,
  type Kysely, type QueryCompiler, type QueryResult, type TransactionSettings
} from 'kysely'
import { DatabaseBusyError, isBusy } from './errors.js'

/*
 * Kysely's SQLite dialect for a synchronous driver that must never wait for a lock on the event
 * loop. SQLite lets one connection write at a time (WAL: readers are never blocked). Its own
 * answer to a lock held by another process — the CLI's import, a second instance — is a busy
 * timeout: a sleep inside the call, which on a synchronous driver freezes the whole server,
 * /health included (issue 18: 9.4 s during a 400,000-row import). So the connection runs with
 * busy_timeout = 0 (src/db/sqlite.ts) and this driver retries a statement refused with
 * SQLITE_BUSY after a timer (1 ms, doubling up to `maxPauseMs`) until `waitMs` have passed; then
 * DatabaseBusyError, which the error handler answers with 503.
 *
 * Only what can be retried is: a statement outside a transaction (refused, it changed nothing),
 * BEGIN and COMMIT. Transactions begin IMMEDIATE, so the write lock is taken at BEGIN, where a
 * refusal is retried; a deferred transaction would take it at its first write, where SQLITE_BUSY
 * (or BUSY_SNAPSHOT, when another connection committed since its first read) cannot be retried
 * without running the transaction again. Inside a transaction begun IMMEDIATE nothing is refused.
 *
 * Kysely runs everything on the one connection behind a mutex (its adapter says it does not
 * support several connections). Here the driver does that itself, so that the connection is only
 * held while a transaction is open: a statement waits for this process's open transaction to end
 * (else it would run inside it), transactions begin one after another, and while a write waits for
 * another process's lock, between its tries, the connection is free for everything else — reads
 * above all, which WAL never blocks. A write by another process therefore delays only this
 * process's writes, and only by the time that writer holds the lock.
 *
 * Transactions must go through Kysely (db.transaction(), startTransaction()): a raw BEGIN is not
 * seen by the driver. Streaming reads the rows at once (the connection cannot be held across
 * awaits outside a transaction).
 */

/** What the driver needs of a connection: openSqlite's object (prepared statements, reused). */
export interface SqliteStatements {
  prepare (sql: string): {
    reader: boolean
    all (parameters: readonly unknown[]): unknown[]
    run (parameters: readonly unknown[]): { changes: number | bigint, lastInsertRowid: number | bigint }
  }
  close (): void
}

export interface BusyPolicy {
  /** How long a statement may wait for another connection's lock before DatabaseBusyError. */
  waitMs: number
  /** The longest pause between two tries; the first is 1 ms and each one doubles. */
  maxPauseMs: number
}

/**
 * 5 s, as the busy_timeout this replaces. Tries 1 ms apart (a refused BEGIN costs microseconds,
 * and only the first statement in line tries): a writer elsewhere that pauses longer than that
 * between its transactions (./batches.ts, the users import) lets this one in between two of them.
 */
export const BUSY_POLICY: Readonly<BusyPolicy> = Object.freeze({ waitMs: 5000, maxPauseMs: 1 })

/** One acquireConnection: a single query, a transaction, or db.connection()'s several queries. */
class Session implements DatabaseConnection {
  /** Set while this session holds the transaction queue (from its turn until COMMIT or ROLLBACK). */
  release: (() => void) | undefined
  constructor (private readonly driver: RetryingSqliteDriver) {}

  executeQuery<R> (query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.execute<R>(this, query)
  }

  async * streamQuery<R> (query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(query)
    for (const row of rows) yield { rows: [row] }
  }
}

const BEGIN = CompiledQuery.raw('begin immediate')
const BEGIN_READ_ONLY = CompiledQuery.raw('begin')
const COMMIT = CompiledQuery.raw('commit')
const ROLLBACK = CompiledQuery.raw('rollback')
const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`

class RetryingSqliteDriver implements Driver {
  /** The session whose transaction is open on the connection; other sessions' statements wait for its end. */
  #owner: Session | undefined
  #ended: Promise<void> = Promise.resolve()
  #end: () => void = () => {}
  /** Transactions begin one after another: the last turn given out. */
  #queue: Promise<void> = Promise.resolve()
  /** Statements refused with SQLITE_BUSY try again one after another: the last place in line. */
  #line: Promise<void> = Promise.resolve()

  constructor (private readonly database: SqliteStatements, private readonly policy: BusyPolicy) {}

  async init (): Promise<void> {}
  async acquireConnection (): Promise<DatabaseConnection> { return new Session(this) }
  async releaseConnection (session: DatabaseConnection): Promise<void> { this.#endTransaction(session as Session) }
  async destroy (): Promise<void> { this.database.close() }

  async beginTransaction (connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const session = connection as Session
    const previous = this.#queue
    let release!: () => void
    const turn = new Promise<void>(resolve => { release = resolve })
    this.#queue = previous.then(() => turn)
    await previous
    session.release = release
    try {
      // A read-only transaction takes no write lock: deferred, its reads are never refused (WAL).
      await this.#retrying(settings.accessMode === 'read only' ? BEGIN_READ_ONLY : BEGIN, undefined)
    } catch (error) {
      this.#endTransaction(session)
      throw error
    }
    this.#owner = session
    this.#ended = new Promise(resolve => { this.#end = resolve })
  }

  async commitTransaction (connection: DatabaseConnection): Promise<void> {
    // A refused COMMIT leaves the transaction open, and may be tried again (WAL hardly ever refuses it).
    await this.#retrying(COMMIT, connection as Session)
    this.#endTransaction(connection as Session)
  }

  async rollbackTransaction (connection: DatabaseConnection): Promise<void> {
    try {
      this.#run(ROLLBACK)
    } finally {
      this.#endTransaction(connection as Session)
    }
  }

  async savepoint (connection: DatabaseConnection, name: string): Promise<void> {
    await this.execute(connection as Session, CompiledQuery.raw(`savepoint ${quoted(name)}`))
  }

  async rollbackToSavepoint (connection: DatabaseConnection, name: string): Promise<void> {
    await this.execute(connection as Session, CompiledQuery.raw(`rollback to ${quoted(name)}`))
  }

  async releaseSavepoint (connection: DatabaseConnection, name: string): Promise<void> {
    await this.execute(connection as Session, CompiledQuery.raw(`release ${quoted(name)}`))
  }

  /** A query of `session`: inside its own transaction at once (the lock is held), else retried when refused. */
  async execute<R> (session: Session, query: CompiledQuery): Promise<QueryResult<R>> {
    if (session === this.#owner) return this.#run<R>(query)
    return this.#retrying<R>(query, undefined)
  }

  /**
   * Runs `query` when no other session's transaction is open, trying again after a pause while
   * SQLite says busy. Statements refused wait in line: only the first tries again and again (one
   * lock frees one writer at a time anyway), so a hundred logins waiting for another process cost
   * one try per pause, not a hundred. COMMIT (`owner` given) skips the line: the first in line may
   * be waiting for that very transaction to end.
   */
  async #retrying<R> (query: CompiledQuery, owner: Session | undefined): Promise<QueryResult<R>> {
    const start = performance.now()
    let leave: (() => void) | undefined
    try {
      for (let attempt = 0; ; attempt++) {
        while (this.#owner !== undefined && this.#owner !== owner) await this.#ended
        try {
          return this.#run<R>(query)
        } catch (error) {
          if (!isBusy(error)) throw error
          const waited = performance.now() - start
          if (waited >= this.policy.waitMs) throw new DatabaseBusyError(waited, error)
          if (leave === undefined && owner === undefined) {
            const ahead = this.#line
            this.#line = new Promise<void>(resolve => { leave = resolve })
            await ahead
            attempt = -1 // first in line: try at once, then pause 1 ms, 2 ms, …
            continue
          }
          await sleep(Math.min(2 ** attempt, this.policy.maxPauseMs))
        }
      }
    } finally {
      leave?.()
    }
  }

  #run<R> (query: CompiledQuery): QueryResult<R> {
    const statement = this.database.prepare(query.sql)
    if (statement.reader) return { rows: statement.all(query.parameters) as R[] }
    const { changes, lastInsertRowid } = statement.run(query.parameters)
    return {
      insertId: lastInsertRowid != null ? BigInt(lastInsertRowid) : undefined,
      numAffectedRows: changes != null ? BigInt(changes) : undefined,
      rows: []
    }
  }

  #endTransaction (session: Session) {
    if (this.#owner === session) {
      this.#owner = undefined
      this.#end()
    }
    const release = session.release
    session.release = undefined
    release?.()
  }
}

/** The driver serialises transactions itself (see above), so Kysely adds no mutex of its own. */
class RetryingSqliteAdapter extends SqliteAdapter {
  override get supportsMultipleConnections (): boolean { return true }
}

/** Kysely's SQLite dialect (compiler, adapter, introspector) with the retrying driver above. */
export class RetryingSqliteDialect implements Dialect {
  constructor (private readonly database: SqliteStatements, private readonly policy: BusyPolicy = BUSY_POLICY) {}
  createDriver (): Driver { return new RetryingSqliteDriver(this.database, this.policy) }
  createQueryCompiler (): QueryCompiler { return new SqliteQueryCompiler() }
  createAdapter (): DialectAdapter { return new RetryingSqliteAdapter() }
  createIntrospector (db: Kysely<any>): DatabaseIntrospector { return new SqliteIntrospector(db) }
}
