import { setTimeout as sleep } from 'node:timers/promises'
import { BUSY_POLICY } from './sqlite-dialect.js'

/**
 * How a write of many rows (users import) shares the database with everyone else. SQLite has one
 * writer at a time, so one transaction of 400,000 rows keeps every other writer (the server's
 * logins, another instance) waiting for seconds. Instead: transactions of `rows` rows (under
 * 10 ms each on SQLite when the rows come in key order, see createMany), each followed by a pause of
 * `pauseMs`, four times the longest pause between a waiting writer's tries
 * (BUSY_POLICY.maxPauseMs), so that a writer elsewhere gets the lock between two batches.
 * PostgreSQL does the same; it costs it the pauses only (400 of 4 ms for 400,000 rows).
 */
export const BATCH = Object.freeze({ rows: 1000, pauseMs: 4 * BUSY_POLICY.maxPauseMs })

/** The pause after a batch (a timer: the event loop stays free). */
export const pauseAfterBatch = () => sleep(BATCH.pauseMs)
