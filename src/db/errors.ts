/*
 * What the drivers' errors mean, in one place: SQLite (node:sqlite, better-sqlite3) and
 * PostgreSQL (pg) report the same conditions with different codes and texts.
 */

interface DriverError { code?: unknown, errcode?: unknown, message?: unknown, constraint?: unknown }

/**
 * For a unique-constraint violation on the users table, the column that clashed ('email' or
 * 'username'); undefined for any other error. PostgreSQL names the constraint, SQLite the column.
 */
export function duplicateUserField (error: unknown): 'username' | 'email' | undefined {
  const e = (error ?? {}) as DriverError
  // PostgreSQL 23505; better-sqlite3's code; node:sqlite's extended result code SQLITE_CONSTRAINT_UNIQUE
  const unique = e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.errcode === 2067
  if (!unique) return undefined
  return `${String(e.constraint ?? '')} ${String(e.message ?? '')}`.includes('email') ? 'email' : 'username'
}

/** Network and server-state codes that mean "the database cannot be reached", not "bad query". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08003'])
const SQLITE_BUSY = 5
const UNAVAILABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|Stream isn't writeable|Connection is closed/i

/**
 * True for SQLite's "database is locked": another connection holds the lock this statement needs.
 * better-sqlite3 says SQLITE_BUSY or an extended code (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT);
 * node:sqlite gives the extended result code, whose low byte is SQLITE_BUSY (5, 261, 517, 773).
 */
export function isBusy (error: unknown): boolean {
  const e = (error ?? {}) as DriverError
  return (typeof e.errcode === 'number' && (e.errcode & 0xff) === SQLITE_BUSY) || (typeof e.code === 'string' && e.code.startsWith('SQLITE_BUSY'))
}

/**
 * SQLite stayed locked by another connection (another process, another instance) for longer than
 * the driver waits (src/db/sqlite-dialect.ts): the database is unavailable for now, a 503.
 */
export class DatabaseBusyError extends Error {
  readonly code = 'SQLITE_BUSY'
  constructor (waitedMs: number, cause: unknown) {
    super(`the database stayed locked by another connection for ${Math.round(waitedMs)} ms`, { cause })
    this.name = 'DatabaseBusyError'
  }
}

/** True when the error says the database (or Redis) is unreachable or busy: worth a 503 and a retry. */
export function isUnavailable (error: unknown): boolean {
  const e = (error ?? {}) as DriverError
  return UNAVAILABLE_CODES.has(String(e.code)) || isBusy(error) || UNAVAILABLE_MESSAGES.test(String(e.message ?? ''))
}
