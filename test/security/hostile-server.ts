import type { TestContext } from 'node:test'
import { sqliteFile } from '../helper.js'
import { startServerProcess } from '../server-process.js'

/** The admin the hostile suites create through FIRST_SUPERUSER, to count users and sessions. */
export const ADMIN_PASSWORD = 'an admin password nobody guesses 9!'

/**
 * A real server process for a hostile-input suite, on a SQLite file of its own, with an admin.
 * The per-address and per-account limits are off on purpose: a suite sends hundreds of requests
 * from one address, and every answer must be the input's own, not a 429.
 */
export async function startHostileServer (t: TestContext, options: { issuer: string, admin: string, env?: Record<string, string> }) {
  return startServerProcess(t, {
    DATABASE_URL: sqliteFile(t),
    JWT_ISSUER: options.issuer,
    JWT_AUDIENCE: options.issuer,
    FIRST_SUPERUSER: options.admin,
    FIRST_SUPERUSER_PASSWORD: ADMIN_PASSWORD,
    TOKEN_RATE_LIMIT: '0',
    LOGIN_USERNAME_RATE_LIMIT: '0',
    ...options.env
  })
}
