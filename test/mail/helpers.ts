import type { TestContext } from 'node:test'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { createApp } from '../../src/app.js'
import type { OutboxWorkerSettings } from '../../src/schemas/mail-options.js'
import { FORM, form, isolatedDatabaseUrl, PASSWORD, testConfig, uniqueName } from '../helper.js'

/** Worker timing for tests: polls every 25 ms, retries after 50, 100, 200, 400 ms. */
export const FAST_WORKER: Partial<OutboxWorkerSettings> = {
  intervalMs: 25, backoffBaseMs: 50, backoffMaxMs: 400, sendTimeoutMs: 5000, leaseMs: 10_000, closeTimeoutMs: 1000
}

export interface MailAppOptions {
  /** environment variables (SMTP_URL, PUBLIC_URL, …) over the test defaults */
  env?: Record<string, string>
  worker?: Partial<OutboxWorkerSettings>
  databaseUrl?: string
  /** collects the app's log lines (JSON), at LOG_LEVEL info unless env says otherwise */
  logs?: string[]
}

/** The whole app on a database of its own, with a fast outbox worker; closed when the test ends. */
export async function buildMailApp (t: TestContext, options: MailAppOptions = {}): Promise<FastifyInstance> {
  const { env = {}, worker = {}, logs } = options
  const config = testConfig({ DATABASE_URL: options.databaseUrl ?? await isolatedDatabaseUrl(), ...(logs === undefined ? {} : { LOG_LEVEL: 'info' }), ...env })
  const stream = new Writable({ write (chunk, _encoding, done) { logs?.push(...String(chunk).split('\n').filter(Boolean)); done() } })
  const app = await createApp(
    { ...config, mail: { ...config.mail, worker: { ...FAST_WORKER, ...worker } } },
    logs === undefined ? {} : { logger: { level: config.logLevel, stream } }
  )
  t.after(() => app.close())
  // The worker starts when a server listens; an app driven by inject starts it by hand.
  app.mailOutbox.start()
  return app
}

/** Registers a user with an e-mail address (unique to the test run). */
export async function registerWithEmail (app: FastifyInstance, prefix = 'mail', password = PASSWORD) {
  const username = uniqueName(prefix)
  const email = `${username}@example.com`
  const res = await app.inject({ method: 'POST', url: '/register', payload: { username, password, email } })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { user: res.json<{ id: string, username: string, email: string, email_verified: boolean }>(), username, email, password }
}

export const postJson = (app: FastifyInstance, url: string, payload: object) =>
  app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })

export const postForm = (app: FastifyInstance, url: string, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url, headers: FORM, payload: form(fields) })

/** A link of an e-mail, opened on the app (its path and query). */
export const openLink = (app: FastifyInstance, link: string) => {
  const url = new URL(link)
  return app.inject({ method: 'GET', url: url.pathname + url.search })
}

export const passwordLogin = (app: FastifyInstance, username: string, password: string) =>
  postForm(app, '/token', { grant_type: 'password', username, password })
